"""A PACS round trip against a real Orthanc: DICOMweb in and STOW-RS out, and `angioseg listen`
between Orthanc as sender and receiver; every network failure is one line and stores nothing."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pydicom
import pytest
import requests
from cli_helpers import assert_one_line_error, run_cli
from dicom_files import CT, make_xa, phantom_frames
from orthanc import AET, free_port, orthanc_missing, start_orthanc
from sr_checks import check_group, read_groups

from AngioSegLib.errors import InputError
from AngioSegLib.io.xa_write import write_xa
from AngioSegLib.pacs.dicomweb import TOKEN_ENV, parse_series_url, read_token
from AngioSegLib.pacs.node import parse_node
from AngioSegLib.phantom.generator import PhantomOptions, make_phantom

MISSING = orthanc_missing()
needs_orthanc = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
LISTEN_AET = "ANGIOSEG"


@pytest.fixture(scope="module")
def listen_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory, listen_port):
    if MISSING is not None:
        pytest.skip(MISSING)
    modalities = {"angioseg": (LISTEN_AET, "127.0.0.1", listen_port)}
    with start_orthanc(tmp_path_factory.mktemp("orthanc"), modalities) as server:
        yield server


def _phantom_xa(folder: Path, seed: int) -> Path:
    run = make_phantom(PhantomOptions(seed=seed, n_frames=6, size=128))
    return write_xa(run.cine, folder / f"run{seed}.dcm")


def _uids(path: Path) -> tuple[str, str]:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return ds.StudyInstanceUID, ds.SeriesInstanceUID


@pytest.fixture(scope="module")
def uploaded(orthanc, tmp_path_factory) -> tuple[Path, dict, str]:
    """A phantom XA in Orthanc: (local file, Orthanc's answer, its DICOMweb series URL)."""
    path = _phantom_xa(tmp_path_factory.mktemp("xa"), seed=3)
    answer = orthanc.upload(path)
    study, series = _uids(path)
    return path, answer, f"{orthanc.dicomweb}/studies/{study}/series/{series}"


@pytest.fixture(scope="module")
def uploaded_ct(orthanc, tmp_path_factory) -> tuple[dict, str]:
    path = make_xa(tmp_path_factory.mktemp("ct") / "ct.dcm", phantom_frames(n_frames=1),
                   sop_class=CT, Modality="CT")
    answer = orthanc.upload(path)
    study, series = _uids(path)
    return answer, f"{orthanc.dicomweb}/studies/{study}/series/{series}"


def _derived(orthanc, study_id: str) -> dict[str, list[str]]:
    """{Modality: [instance IDs]} of the SEG and SR series of an Orthanc study."""
    found: dict[str, list[str]] = {}
    for series in orthanc.series_of_study(study_id):
        modality = series["MainDicomTags"].get("Modality")
        if modality in ("SEG", "SR"):
            found.setdefault(modality, []).extend(series["Instances"])
    return found


def _check_sr_against_qca(sr_bytes: bytes, qca: dict, tmp_path: Path) -> None:
    path = tmp_path / "from_pacs_sr.dcm"
    path.write_bytes(sr_bytes)
    _, groups = read_groups(path)
    assert len(groups) == len(qca["segments"]) + len(qca["stenoses"])
    for record in qca["segments"]:
        check_group(groups[record["segment_label"]], record, qca["unit"], qca["calibration"])


# --- DICOMweb ---------------------------------------------------------------------------------


@pytest.mark.slow
@needs_orthanc
def test_segment_a_dicomweb_series_and_store_seg_and_sr(orthanc, uploaded, tmp_path, capsys,
                                                        monkeypatch):
    _, answer, url = uploaded
    monkeypatch.setenv(TOKEN_ENV, orthanc.authorization)
    out = tmp_path / "out"
    code, _, err = run_cli(["segment", url, "-o", str(out), "--store", orthanc.dicomweb,
                            "--device", "cpu"], capsys)
    assert code == 0, err
    assert "Stored SEG and SR" in err
    derived = _derived(orthanc, answer["ParentStudy"])
    assert len(derived["SEG"]) == 1 and len(derived["SR"]) == 1
    seg = pydicom.dcmread(io.BytesIO(orthanc.file(derived["SEG"][0])), stop_before_pixels=True)
    local_seg = pydicom.dcmread(out / "segmentation.dcm", stop_before_pixels=True)
    assert seg.SOPInstanceUID == local_seg.SOPInstanceUID
    qca = json.loads((out / "qca.json").read_text())
    _check_sr_against_qca(orthanc.file(derived["SR"][0]), qca, tmp_path)


@needs_orthanc
def test_a_token_file_works_and_a_non_xa_series_is_one_line(orthanc, uploaded_ct, tmp_path,
                                                            capsys, monkeypatch):
    _, url = uploaded_ct
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    token = tmp_path / "token"
    token.write_text(orthanc.authorization + "\n")
    code, _, err = run_cli(["segment", url, "-o", str(tmp_path / "o"), "--token-file",
                            str(token)], capsys)
    assert_one_line_error(code, err, "of Modality CT that are not X-ray angiography")
    assert not (tmp_path / "o").exists()


@needs_orthanc
def test_wrong_credentials_are_one_line(orthanc, uploaded, tmp_path, capsys, monkeypatch):
    _, _, url = uploaded
    monkeypatch.setenv(TOKEN_ENV, "Basic bm9ib2R5Om5vcGU=")
    code, _, err = run_cli(["segment", url, "-o", str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, "refused the credentials (HTTP 401)")
    assert not (tmp_path / "o").exists()


@needs_orthanc
def test_a_failed_run_stores_nothing(orthanc, uploaded, tmp_path, capsys, monkeypatch):
    """--store is checked before the run; a run that cannot give SEG + SR sends nothing."""
    from PIL import Image

    _, answer, _ = uploaded
    monkeypatch.setenv(TOKEN_ENV, orthanc.authorization)
    before = orthanc.rest("GET", "/series").json()
    png = tmp_path / "frame.png"
    Image.fromarray((phantom_frames(n_frames=1)[0] >> 2).astype("uint8")).save(png)
    code, _, err = run_cli(["segment", str(png), "-o", str(tmp_path / "o"), "--store",
                            orthanc.dicomweb], capsys)
    assert_one_line_error(code, err, "--store sends the DICOM SEG and SR, but")
    assert orthanc.rest("GET", "/series").json() == before
    assert not (tmp_path / "o").exists()


def test_a_server_that_is_down_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    down = f"http://127.0.0.1:{free_port()}/dicom-web"
    code, _, err = run_cli(["segment", f"{down}/studies/1.2.3/series/1.2.3.4", "-o",
                            str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, f"cannot connect to the DICOMweb server {down}")
    assert not (tmp_path / "o").exists()


def test_store_to_a_server_that_is_down_fails_before_the_run(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    source = make_xa(tmp_path / "run.dcm", phantom_frames())
    down = f"http://127.0.0.1:{free_port()}/dicom-web"
    code, _, err = run_cli(["segment", str(source), "-o", str(tmp_path / "o"), "--store", down],
                           capsys)
    assert_one_line_error(code, err, "while checking it before the run")
    assert not (tmp_path / "o").exists()


class _Forbidden(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(403)
        self.end_headers()

    def log_message(self, *_args):
        pass


def test_forbidden_and_timeout_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "a-token")
    server = HTTPServer(("127.0.0.1", 0), _Forbidden)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/dicom-web/studies/1.2/series/1.2.3"
        code, _, err = run_cli(["segment", url, "-o", str(tmp_path / "o")], capsys)
        assert_one_line_error(code, err, "with these credentials (HTTP 403)")
    finally:
        server.shutdown()
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/dicom-web/studies/1.2/series/1.2.3"
        code, _, err = run_cli(["segment", url, "-o", str(tmp_path / "o"), "--timeout", "0.5"],
                               capsys)
        assert_one_line_error(code, err, "did not answer within 0.5 s")
    assert not (tmp_path / "o").exists()


def test_bad_urls_nodes_and_token_files_are_refused(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="must be a series URL"):
        parse_series_url("http://pacs/dicom-web/studies/1.2")
    with pytest.raises(InputError, match="is written AET@host:port"):
        parse_node("PACS@host")
    with pytest.raises(InputError, match="an AE title has 1 to 16 characters"):
        parse_node("A_VERY_LONG_AE_TITLE@host:104")
    assert parse_node("PACS@10.0.0.5:104").port == 104
    empty = tmp_path / "token"
    empty.write_text("")
    with pytest.raises(InputError, match="is empty; write the token on its first line"):
        read_token(empty)
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert read_token(None).authorization is None
    monkeypatch.setenv(TOKEN_ENV, "secret")
    assert read_token(None).authorization == "Bearer secret"
    assert "secret" not in repr(read_token(None))


# --- angioseg listen --------------------------------------------------------------------------


class _Node:
    """`angioseg listen` as a subprocess, its stderr collected line by line."""

    def __init__(self, args: list[str]):
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        self.process = subprocess.Popen([sys.executable, "-m", "AngioSegLib", "listen", *args],
                                        stderr=subprocess.PIPE, text=True, env=env,
                                        cwd=Path(__file__).resolve().parents[2])
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout_s: float = 120.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in self.lines:
                if text in line:
                    return line
                if " failed" in line:
                    raise AssertionError("\n".join(self.lines))
            if self.process.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.2)
        raise AssertionError(f"no line with {text!r}; log:\n" + "\n".join(self.lines))

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError("the node did not stop within 120 s; log:\n"
                                 + "\n".join(self.lines)) from None


@pytest.mark.slow
@needs_orthanc
def test_listen_between_orthanc_as_sender_and_receiver(orthanc, listen_port, tmp_path,
                                                       uploaded_ct):
    """Orthanc sends a CT (refused, 0x0122) and the same XA three times to a node with a queue
    of one: the first runs, the second waits, the third is refused (0xA700); SIGTERM then lets
    the run finish and send SEG + SR to Orthanc, drops the waiting one and exits 0."""
    source = _phantom_xa(tmp_path, seed=5)
    answer = orthanc.upload(source)
    node = _Node(["--ae-title", LISTEN_AET, "--port", str(listen_port), "--host", "127.0.0.1",
                  "--send-to", f"{AET}@127.0.0.1:{orthanc.dicom_port}", "--device", "cpu",
                  "--queue-size", "1", "--output-dir", str(tmp_path / "runs")])
    try:
        node.wait_for("listening as ANGIOSEG")
        with pytest.raises(requests.HTTPError):
            orthanc.rest("POST", "/modalities/angioseg/store", data=uploaded_ct[0]["ID"])
        assert "(status 0x0122): CT Image Storage" in node.wait_for("refused")
        orthanc.rest("POST", "/modalities/angioseg/store", data=answer["ID"])
        node.wait_for("running ")
        orthanc.rest("POST", "/modalities/angioseg/store", data=answer["ID"])  # waits
        with pytest.raises(requests.HTTPError):  # the queue of one is full
            orthanc.rest("POST", "/modalities/angioseg/store", data=answer["ID"])
        assert node.process.poll() is None
    finally:
        code = node.stop()
    log = "\n".join(node.lines)
    assert code == 0, log
    assert "(status 0xA700): 1 runs are already waiting" in log
    assert "1 queued instance(s) were not processed" in log
    assert "stopped: 1 run(s) sent, 0 failed, 2 instance(s) refused" in node.lines[-1]
    assert "Traceback" not in log
    assert log.index("sent SEG + SR of") < log.index("stopped:")
    derived = _derived(orthanc, answer["ParentStudy"])
    assert len(derived["SEG"]) == 1 and len(derived["SR"]) == 1
    (run,) = (tmp_path / "runs").iterdir()
    qca = json.loads((run / "qca.json").read_text())
    _check_sr_against_qca(orthanc.file(derived["SR"][0]), qca, tmp_path)


def test_listen_with_a_port_in_use_is_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        node = _Node(["--ae-title", LISTEN_AET, "--port", str(port), "--host", "127.0.0.1",
                      "--send-to", "PACS@127.0.0.1:104", "--device", "cpu"])
        code = node.process.wait(timeout=120)
    node._reader.join(timeout=5)
    assert code == 2, node.lines
    errors = [line for line in node.lines if line.startswith("angioseg: error:")]
    assert errors and "choose another --port" in errors[0], node.lines
