"""A DICOM node's address (``AET@host:port``) and sending SEG + SR to it (C-STORE SCU).

:func:`send_instances` opens one association with the destination, proposing only what it sends
(each SOP class in Explicit VR Little Endian, the transfer syntax AngioSeg writes), and stores
the files in order, stopping at the first failure: the SEG goes first and the SR only after the
SEG was stored, so a destination never holds measurements without their segmentation. A SEG
stored before the SR failed cannot be taken back over DIMSE; the error says so.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from AngioSegLib.errors import InputError, NetworkError

__all__ = ["DicomNode", "parse_node", "send_instances"]

_NODE = re.compile(r"^(?P<aet>[^@]+)@(?P<host>\[[0-9a-fA-F:]+\]|[^:@\s]+):(?P<port>\d{1,5})$")
_SUCCESS_OR_WARNING = {0x0000, 0x0001, 0x0107, 0x0116}  # success and PS3.7 C-STORE warnings


@dataclass(frozen=True)
class DicomNode:
    """A DICOM application entity: AE title (≤ 16 characters), host and TCP port."""

    ae_title: str
    host: str
    port: int

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise InputError(f"a DICOM port must be between 1 and 65535, found {self.port}")
        if not self.ae_title.strip() or len(self.ae_title) > 16 or "\\" in self.ae_title:
            raise InputError(f"an AE title has 1 to 16 characters and no backslash, found "
                             f"{self.ae_title!r}")

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"


def parse_node(text: str) -> DicomNode:
    """``AET@host:port`` → DicomNode; InputError naming the form otherwise."""
    match = _NODE.match(str(text).strip())
    if match is None:
        raise InputError(f"a DICOM node is written AET@host:port (e.g. PACS@10.0.0.5:104), "
                         f"found {text!r}")
    return DicomNode(match["aet"], match["host"].strip("[]"), int(match["port"]))


def check_ae_title(text: str) -> str:
    """An AE title this node may use (1–16 characters, no backslash)."""
    return DicomNode(text, "localhost", 104).ae_title


def send_instances(paths: Sequence[str | os.PathLike[str]], destination: DicomNode,
                   calling_ae_title: str, timeout_s: float = 30.0) -> list[str]:
    """C-STORE ``paths`` to ``destination`` in one association, in order; their SOP Instance
    UIDs. Raises NetworkError (which files were stored) at the first failure."""
    import pydicom
    from pynetdicom import AE

    try:
        datasets = [pydicom.dcmread(Path(path)) for path in paths]
    except (OSError, pydicom.errors.InvalidDicomError) as error:
        raise InputError(f"cannot read an output to send ({error}); nothing was sent") from error
    ae = AE(ae_title=calling_ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout_s
    for ds in datasets:
        ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate(destination.host, destination.port, ae_title=destination.ae_title)
    if not assoc.is_established:
        raise NetworkError(f"{destination} did not accept an association from "
                           f"{calling_ae_title} (down, or the AE title is not known there); "
                           "nothing was sent")
    stored: list[str] = []
    try:
        for ds in datasets:
            status = assoc.send_c_store(ds)
            code = int(status.Status) if status and "Status" in status else None
            if code not in _SUCCESS_OR_WARNING:
                shown = "no answer" if code is None else f"status 0x{code:04X}"
                kept = f"; it had stored {', '.join(stored)}" if stored else "; nothing was stored"
                raise NetworkError(f"{destination} refused {ds.SOPClassUID.name} "
                                   f"{ds.SOPInstanceUID} ({shown}){kept}")
            stored.append(str(ds.SOPInstanceUID))
    finally:
        assoc.release()
    return stored
