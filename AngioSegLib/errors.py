"""The one exception family of AngioSeg: every message says what was expected and what to do."""

from __future__ import annotations


class AngioSegError(Exception):
    """Base of all AngioSeg errors; the CLI prints the message on one line and exits with code 2."""


class InputError(AngioSegError, ValueError):
    """The input is not what AngioSeg can use (not DICOM, not XA, empty run, bad option...)."""


class UnsupportedTransferSyntaxError(InputError):
    """Pixel data is compressed with a syntax no installed decoder handles."""


class InputNotFoundError(AngioSegError, FileNotFoundError):
    """A path given by the user does not exist."""


class OutputExistsError(AngioSegError, FileExistsError):
    """An output would overwrite existing files; pass force=True (``--force``) to allow it."""


class OutputBusyError(OutputExistsError):
    """Another process holds the lock on this output."""


class OutputNotWritableError(AngioSegError, OSError):
    """The output's folder cannot be written: read-only, or too little free space."""


class ModelError(AngioSegError, RuntimeError):
    """A model cannot be found, loaded or run."""


class DeviceError(AngioSegError, RuntimeError):
    """The requested compute device is not available."""


class CancelledError(AngioSegError):
    """The user cancelled a running job."""


class ClusterError(AngioSegError, RuntimeError):
    """A Dask cluster for a batch cannot be started or reached."""


class NetworkError(AngioSegError, OSError):
    """A PACS or DICOMweb server cannot be reached, refuses the request or fails it."""
