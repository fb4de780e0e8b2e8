"""A real Orthanc for the PACS tests: temporary configuration and storage, 127.0.0.1, free ports.

:func:`start_orthanc` writes a configuration JSON (HTTP Basic user ``angioseg``, the DicomWeb
plugin, the given DICOM modalities) and a storage folder under ``folder``, starts
``/usr/sbin/Orthanc`` on free ports, waits until its REST API answers and yields an
:class:`Orthanc`; the process is stopped (SIGTERM, then SIGKILL) when the block ends.
:func:`orthanc_missing` says why the tests must skip, or None.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

ORTHANC = os.environ.get("ANGIOSEG_ORTHANC", "/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
USER, PASSWORD = "angioseg", "phantom-only"
AET = "ORTHANC"
_START_TIMEOUT_S = 30.0


def orthanc_missing() -> str | None:
    """Why Orthanc cannot run here (install with scripts/system-deps.sh), or None."""
    if shutil.which(ORTHANC) is None:
        return f"Orthanc is not installed ({ORTHANC}); run scripts/system-deps.sh as root"
    if not Path(DICOMWEB_PLUGIN).is_file():
        return f"the Orthanc DICOMweb plugin is missing ({DICOMWEB_PLUGIN}): orthanc-dicomweb"
    return None


def free_port() -> int:
    """A TCP port nothing listens on now (on 127.0.0.1)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Orthanc:
    """A running Orthanc: its REST and DICOMweb URLs, DICOM port and credentials."""

    http_port: int
    dicom_port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.url}/dicom-web"

    @property
    def authorization(self) -> str:
        """The HTTP Basic Authorization header value."""
        return "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    def rest(self, method: str, path: str, **kwargs) -> requests.Response:
        """A call of Orthanc's REST API (raises for an error status)."""
        response = requests.request(method, f"{self.url}{path}", auth=(USER, PASSWORD),
                                    timeout=60, **kwargs)
        response.raise_for_status()
        return response

    def upload(self, path: Path) -> dict:
        """Store one DICOM file through the REST API; Orthanc's answer (ID, ParentStudy…)."""
        return self.rest("POST", "/instances", data=Path(path).read_bytes()).json()

    def series_of_study(self, study_id: str) -> list[dict]:
        return self.rest("GET", f"/studies/{study_id}/series").json()

    def file(self, instance_id: str) -> bytes:
        return self.rest("GET", f"/instances/{instance_id}/file").content


def _config(folder: Path, http_port: int, dicom_port: int,
            modalities: dict[str, tuple[str, str, int]]) -> dict:
    return {
        "Name": "AngioSegTest",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "storage"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": AET,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: PASSWORD},
        "Plugins": [DICOMWEB_PLUGIN],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "DicomModalities": {name: list(entry) for name, entry in modalities.items()},
        "DicomScuTimeout": 30,
        "StableAge": 1,
        "HttpTimeout": 60,
        "ConcurrentJobs": 1,
    }


@contextlib.contextmanager
def start_orthanc(folder: Path, modalities: dict[str, tuple[str, str, int]] | None = None
                  ) -> Iterator[Orthanc]:
    """Run Orthanc for the block (see the module docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    http_port, dicom_port = free_port(), free_port()
    config = folder / "orthanc.json"
    config.write_text(json.dumps(_config(folder, http_port, dicom_port, modalities or {})))
    log = folder / "orthanc.log"
    with log.open("wb") as out:
        process = subprocess.Popen([ORTHANC, str(config)], stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = Orthanc(http_port, dicom_port, log)
    try:
        _wait_ready(server, process)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_ready(server: Orthanc, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Orthanc exited with {process.returncode}: "
                               f"{server.log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(requests.RequestException):
            if server.rest("GET", "/system").ok:
                return
        time.sleep(0.2)
    raise RuntimeError(f"Orthanc did not answer within {_START_TIMEOUT_S} s")
