"""The PACS side of `angioseg segment`: a DICOMweb series as input, ``--store`` of SEG + SR."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

STORE_HELP = ("Send SEG + SR to this DICOMweb server (STOW-RS base URL, e.g. "
              "http://pacs/dicom-web); credentials from $ANGIOSEG_DICOMWEB_TOKEN or --token-file.")
TOKEN_FILE_HELP = "File whose first line is the DICOMweb token (never pass it on the command line)."
TIMEOUT_HELP = "Network timeout for DICOMweb requests (s)."


@dataclass(frozen=True)
class StoreTarget:
    """Where ``--store`` sends the outputs, checked before the run."""

    base_url: str
    auth: object  # AngioSegLib.pacs.dicomweb.DicomwebAuth


def local_inputs(text: str) -> tuple[Path, ...]:
    """The input as paths an output folder must not contain (none for a URL)."""
    from AngioSegLib.pacs.dicomweb import is_dicomweb_url

    return () if is_dicomweb_url(text) else (Path(text),)


@contextlib.contextmanager
def open_input(text: str, token_file: Path | None, timeout_s: float) -> Iterator[Path]:
    """The path to read: ``text`` itself, or a temporary folder holding its DICOMweb series
    (removed after the block)."""
    from AngioSegLib.pacs.dicomweb import (
        fetch_series,
        is_dicomweb_url,
        parse_series_url,
        read_token,
    )

    if not is_dicomweb_url(text):
        yield Path(text)
        return
    series = parse_series_url(text)
    auth = read_token(token_file, timeout_s)
    with tempfile.TemporaryDirectory(prefix="angioseg-dicomweb-") as folder:
        fetch_series(series, folder, auth)
        yield Path(folder)


def prepare_store(url: str | None, token_file: Path | None, timeout_s: float
                  ) -> StoreTarget | None:
    """Check the ``--store`` server (reachable, credentials accepted) before any work."""
    if url is None:
        return None
    from AngioSegLib.pacs.dicomweb import check_base_url, check_server, read_token

    base = check_base_url(url)
    auth = read_token(token_file, timeout_s)
    check_server(base, auth)
    return StoreTarget(base, auth)


def check_storable(target: StoreTarget | None, cine) -> None:
    """``--store`` sends SEG and SR, which need a DICOM input."""
    if target is not None and not cine.references:
        from AngioSegLib.errors import InputError

        raise InputError(f"--store sends the DICOM SEG and SR, but '{cine.name}' is not DICOM; "
                         "segment a DICOM XA input or leave out --store")


def store_outputs(target: StoreTarget | None, paths) -> None:
    """Send segmentation.dcm and measurements.dcm of ``paths`` (OutputPaths) together."""
    if target is None:
        return
    from AngioSegLib.errors import InputError, NetworkError
    from AngioSegLib.pacs.dicomweb import store_instances

    files = [paths.folder / "segmentation.dcm", paths.folder / "measurements.dcm"]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise InputError(f"--store sends SEG and SR together, but the run wrote no "
                         f"{', '.join(missing)} (no vessel measured?); nothing was stored; the "
                         f"outputs are in {paths.folder}")
    try:
        store_instances(target.base_url, files, target.auth)
    except NetworkError as error:
        raise NetworkError(f"{error}; the outputs are in {paths.folder}") from error
    from rich.console import Console

    Console(stderr=True).print(f"Stored SEG and SR in [bold]{target.base_url}[/]")
