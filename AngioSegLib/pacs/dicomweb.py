"""DICOMweb: fetch an XA series (WADO-RS) to a folder, and store SEG + SR together (STOW-RS).

A series is named by its URL, ``http(s)://server/<prefix>/studies/{StudyUID}/series/{SeriesUID}``
(the DICOMweb base URL is everything before ``/studies``). Credentials:

* ``ANGIOSEG_DICOMWEB_TOKEN`` (environment) or a token file (first line): a bearer token, sent as
  ``Authorization: Bearer <token>``; a value that starts with ``Basic `` or ``Bearer `` is sent as
  it is (HTTP Basic for servers such as Orthanc: ``Basic base64(user:password)``).

Before anything is downloaded the series' metadata is read and every instance must be X-ray
angiography (XA, Enhanced XA, XRF; Secondary Capture with Modality XA/RF). Stores are checked
first (:func:`check_server`: reachable, credentials accepted) so that a run is not wasted, then
SEG and SR go in one STOW-RS request; a server that answers with any failed instance is reported
as a failure naming what it did store (DICOMweb cannot take an instance back).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from AngioSegLib.errors import InputError, NetworkError

__all__ = [
    "TOKEN_ENV",
    "DicomwebAuth",
    "SeriesUrl",
    "check_server",
    "fetch_series",
    "is_dicomweb_url",
    "parse_series_url",
    "read_token",
    "store_instances",
]

TOKEN_ENV = "ANGIOSEG_DICOMWEB_TOKEN"
DEFAULT_TIMEOUT_S = 30.0
_SERIES_URL = re.compile(r"^(?P<base>https?://.+?)/studies/(?P<study>[0-9.]+)/series/"
                         r"(?P<series>[0-9.]+)/?$")
_ANGIO_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.12.1", "1.2.840.10008.5.1.4.1.1.12.1.1",
    "1.2.840.10008.5.1.4.1.1.12.2", "1.2.840.10008.5.1.4.1.1.12.2.1",
}
_SECONDARY_CAPTURE = {"1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.7.2",
                      "1.2.840.10008.5.1.4.1.1.7.3", "1.2.840.10008.5.1.4.1.1.7.4"}
_SOP_CLASS_TAG, _MODALITY_TAG = "00080016", "00080060"


@dataclass(frozen=True)
class SeriesUrl:
    """A DICOMweb series: the server's base URL and the study and series UIDs."""

    base_url: str
    study_uid: str
    series_uid: str

    @property
    def url(self) -> str:
        return f"{self.base_url}/studies/{self.study_uid}/series/{self.series_uid}"


@dataclass(frozen=True)
class DicomwebAuth:
    """How to reach a server: the Authorization header value (None: none) and the timeout (s)."""

    authorization: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise InputError(f"the network timeout must be more than 0 s, found {self.timeout_s}")

    def __repr__(self) -> str:  # never show the credential in a log or traceback
        shown = "set" if self.authorization else "none"
        return f"DicomwebAuth(authorization={shown}, timeout_s={self.timeout_s})"


def is_dicomweb_url(text: str) -> bool:
    """Whether ``text`` is an http(s) URL (a DICOMweb input rather than a path)."""
    return str(text).lower().startswith(("http://", "https://"))


def parse_series_url(text: str) -> SeriesUrl:
    """Split ``http(s)://…/studies/{S}/series/{R}``; raise InputError naming the form expected."""
    match = _SERIES_URL.match(str(text).strip())
    if match is None:
        raise InputError(
            f"a DICOMweb input must be a series URL 'http(s)://server/…/studies/STUDY_UID/series/"
            f"SERIES_UID', found {text!r}"
        )
    return SeriesUrl(match["base"], match["study"], match["series"])


def check_base_url(text: str) -> str:
    """A DICOMweb base URL (http/https, no trailing slash), or InputError."""
    if not is_dicomweb_url(text) or "/studies/" in text:
        raise InputError(
            f"--store needs the DICOMweb base URL 'http(s)://server/dicom-web' (without "
            f"/studies/…), found {text!r}"
        )
    return str(text).rstrip("/")


def read_token(token_file: str | os.PathLike[str] | None = None,
               timeout_s: float = DEFAULT_TIMEOUT_S) -> DicomwebAuth:
    """Credentials from ``token_file`` (first line) or else :data:`TOKEN_ENV`; none if neither."""
    value = None
    if token_file is not None:
        path = Path(token_file).expanduser()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as error:
            raise InputError(f"cannot read the token file {path} ({error.strerror or error}); "
                             "check the path and its permissions") from error
        value = lines[0].strip() if lines else ""
        if not value:
            raise InputError(f"the token file {path} is empty; write the token on its first line")
    else:
        value = os.environ.get(TOKEN_ENV, "").strip() or None
    if value is not None and not value.startswith(("Basic ", "Bearer ")):
        value = f"Bearer {value}"
    return DicomwebAuth(value, timeout_s)


def _client(base_url: str, auth: DicomwebAuth):
    from dicomweb_client.api import DICOMwebClient

    headers = {"Authorization": auth.authorization} if auth.authorization else None
    client = DICOMwebClient(url=base_url, headers=headers, timeout=auth.timeout_s)
    client.set_http_retry_params(retry=False)
    return client


def _network_error(error: Exception, base_url: str, auth: DicomwebAuth, doing: str
                   ) -> NetworkError:
    """One line for a failed request: what, where, why and what to do."""
    import requests

    where = f"the DICOMweb server {base_url}"
    if isinstance(error, requests.exceptions.Timeout):
        return NetworkError(f"{where} did not answer within {auth.timeout_s:g} s while "
                            f"{doing}; check the server or the network, or raise --timeout")
    if isinstance(error, requests.exceptions.ConnectionError):
        return NetworkError(f"cannot connect to {where} while {doing}; check the URL and that "
                            "the server is running")
    if isinstance(error, requests.exceptions.HTTPError) and error.response is not None:
        code, reason = error.response.status_code, error.response.reason
        if code == 401:
            return NetworkError(f"{where} refused the credentials (HTTP 401) while {doing}; set "
                                f"{TOKEN_ENV} or --token-file to a valid token")
        if code == 403:
            return NetworkError(f"{where} forbids {doing} with these credentials (HTTP 403); ask "
                                "its administrator for access")
        if code == 404:
            return NetworkError(f"{where} has nothing at that address (HTTP 404) while {doing}; "
                                "check the study and series UIDs and the base URL")
        return NetworkError(f"{where} failed while {doing} (HTTP {code} {reason}); try again "
                            "later or ask its administrator")
    return NetworkError(f"{where} gave an answer AngioSeg cannot use while {doing} "
                        f"({type(error).__name__}: {str(error).splitlines()[0][:200]}); check "
                        "that the URL is a DICOMweb service")


def _request_errors() -> tuple[type[Exception], ...]:
    import requests

    return (requests.exceptions.RequestException, ValueError, KeyError)


def _is_angio(metadata: dict) -> bool:
    sop_class = metadata.get(_SOP_CLASS_TAG, {}).get("Value", [""])[0]
    modality = str(metadata.get(_MODALITY_TAG, {}).get("Value", [""])[0]).upper()
    return sop_class in _ANGIO_SOP_CLASSES or (sop_class in _SECONDARY_CAPTURE
                                               and modality in ("XA", "RF"))


def fetch_series(series: SeriesUrl, folder: str | os.PathLike[str], auth: DicomwebAuth
                 ) -> list[Path]:
    """Download every instance of ``series`` into ``folder`` (as received, any transfer syntax).

    Reads the metadata first: a series that is not X-ray angiography is refused before any pixel
    data is fetched. Returns the files written (``0001.dcm``, …).
    """
    client = _client(series.base_url, auth)
    try:
        metadata = client.retrieve_series_metadata(series.study_uid, series.series_uid)
    except _request_errors() as error:
        raise _network_error(error, series.base_url, auth, "reading the series metadata") \
            from error
    if not metadata:
        raise InputError(f"the series {series.url} holds no instance; choose an XA series")
    other = [m for m in metadata if not _is_angio(m)]
    if other:
        modality = other[0].get(_MODALITY_TAG, {}).get("Value", ["none"])[0]
        raise InputError(
            f"the series {series.url} holds {len(other)} instance(s) of Modality {modality} that "
            "are not X-ray angiography; choose an XA or XRF series"
        )
    folder = Path(folder)
    paths = []
    try:  # one instance in memory at a time
        for number, ds in enumerate(client.iter_series(
                series.study_uid, series.series_uid, media_types=(("application/dicom", "*"),)),
                start=1):
            path = folder / f"{number:04d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
    except _request_errors() as error:
        raise _network_error(error, series.base_url, auth, "retrieving the series") from error
    return paths


def check_server(base_url: str, auth: DicomwebAuth) -> None:
    """Raise NetworkError unless the server answers a search (QIDO-RS) with these credentials."""
    client = _client(base_url, auth)
    try:
        client.search_for_studies(limit=1)
    except _request_errors() as error:
        raise _network_error(error, base_url, auth, "checking it before the run") from error


def store_instances(base_url: str, paths: Sequence[str | os.PathLike[str]], auth: DicomwebAuth
                    ) -> list[str]:
    """Store the DICOM files ``paths`` in one STOW-RS request; their SOP Instance UIDs.

    Every file is read before anything is sent (an unreadable one stores nothing). A response
    with any failed instance raises NetworkError naming those the server did store.
    """
    import pydicom

    try:
        datasets = [pydicom.dcmread(path) for path in paths]
    except (OSError, pydicom.errors.InvalidDicomError) as error:
        raise InputError(f"cannot read an output to store ({error}); nothing was stored") \
            from error
    client = _client(base_url, auth)
    try:
        response = client.store_instances(datasets)
    except _request_errors() as error:
        raise _network_error(error, base_url, auth, "storing SEG and SR (nothing was stored)") \
            from error
    failed = [str(item.ReferencedSOPInstanceUID)
              for item in getattr(response, "FailedSOPSequence", [])]
    if failed:
        stored = [str(item.ReferencedSOPInstanceUID)
                  for item in getattr(response, "ReferencedSOPSequence", [])]
        raise NetworkError(
            f"the DICOMweb server {base_url} refused {len(failed)} of {len(datasets)} instances "
            f"({', '.join(failed)}); it stored {', '.join(stored) or 'none'}: remove those there "
            "and store again"
        )
    return [str(ds.SOPInstanceUID) for ds in datasets]
