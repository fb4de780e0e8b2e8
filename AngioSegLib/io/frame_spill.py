"""`FrameSpill`: a (T, H, W) stack written one frame at a time to a temporary file, not to memory.

A long run's float32 probabilities (4 MB a frame at 1024²; 800 MB for 200 frames) are written as
they come and read back as a read-only :class:`numpy.memmap`: an ordinary (T, H, W) array to its
readers, whose frames are read from disk when touched (the operating system keeps or drops them;
they never count against the process as its own memory). The file is unlinked from the start
(:func:`tempfile.TemporaryFile`), so it disappears with the last array that maps it, even after
a crash; it lies in the system's temporary folder (``TMPDIR``).

Frames are written with plain file writes, not through the map, so writing does not make the
pages resident either.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from AngioSegLib.errors import InputError, OutputNotWritableError

__all__ = ["FrameSpill"]


class FrameSpill:
    """Write frames 0, 1, … of a ``(T, H, W)`` ``dtype`` stack with :meth:`write`, then
    :meth:`array` gives the whole stack as a read-only memmap (the file goes with it)."""

    def __init__(self, shape: tuple[int, int, int], dtype=np.float32,
                 folder: str | os.PathLike[str] | None = None):
        self.shape = tuple(int(n) for n in shape)
        if len(self.shape) != 3 or min(self.shape) <= 0:
            raise InputError(f"a frame stack needs a (T, H, W) shape, found {shape}")
        self.dtype = np.dtype(dtype)
        self._frame_bytes = self.shape[1] * self.shape[2] * self.dtype.itemsize
        self._written = 0
        try:
            self._file = tempfile.TemporaryFile(prefix="angioseg-", dir=folder)
        except OSError as error:
            raise OutputNotWritableError(
                f"cannot make a temporary file for the run's {self.shape[0]} frames in "
                f"{folder or tempfile.gettempdir()}: {error}; set TMPDIR to a writable folder"
            ) from error

    @property
    def written(self) -> int:
        """How many frames are written."""
        return self._written

    def write(self, frame: np.ndarray) -> None:
        """Append the next frame ((H, W), cast to the stack's dtype)."""
        if self._written >= self.shape[0]:
            raise InputError(f"the stack holds {self.shape[0]} frames; no room for another")
        data = np.ascontiguousarray(frame, dtype=self.dtype)
        if data.shape != self.shape[1:]:
            raise InputError(f"frames of this stack are {self.shape[1:]}, found {data.shape}")
        try:
            self._file.write(data.tobytes())
        except OSError as error:
            self.close()
            raise OutputNotWritableError(
                f"cannot write frame {self._written} to the temporary file in "
                f"{tempfile.gettempdir()}: {error}; free some space there or set TMPDIR"
            ) from error
        self._written += 1

    def array(self) -> np.ndarray:
        """The stack (every frame written) as a read-only (T, H, W) memmap."""
        if self._written != self.shape[0]:
            raise InputError(f"{self._written} of {self.shape[0]} frames are written; write "
                             "every frame first")
        self._file.flush()
        stack = np.memmap(self._file, dtype=self.dtype, mode="r", shape=self.shape)
        self.close()  # the map holds the (unlinked) file now
        return stack

    def close(self) -> None:
        """Close the file (the data goes when no map of it is left)."""
        self._file.close()

    def __enter__(self) -> FrameSpill:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
