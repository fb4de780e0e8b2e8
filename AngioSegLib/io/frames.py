"""`CachedFrames`: a lazy (T, H, W) frame source that decodes frames on demand, with a cache.

Subclasses implement :meth:`CachedFrames.decode`; everything else (indexing, slicing, the cache,
pickling for background processes) lives here, so a 1024² × 200-frame run never has to sit in
memory whole. Frames are returned as fresh arrays: callers may change them freely.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from AngioSegLib.errors import InputError

DEFAULT_CACHE_FRAMES = 8


class CachedFrames:
    """Frames decoded on demand (implements :class:`AngioSegLib.cine.FrameSource`).

    ``shape`` is (T, H, W); ``frames[i]`` is an (H, W) array of ``dtype``; ``frames[a:b]``,
    ``frames[[i, j]]``, ``frames[i, r0:r1]`` and ``np.asarray(frames)`` decode what they need and
    return arrays. At most ``cache_frames`` decoded frames are kept.
    """

    ndim = 3

    def __init__(
        self, shape: tuple[int, int, int], dtype, cache_frames: int = DEFAULT_CACHE_FRAMES
    ):
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        self.cache_frames = max(0, int(cache_frames))
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def decode(self, index: int) -> np.ndarray:
        """Decode frame ``index`` (0-based, in range) as an (H, W) array of :attr:`dtype`."""
        raise NotImplementedError

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index):
        if isinstance(index, slice):
            frames = [self[i] for i in range(*index.indices(len(self)))]
            return np.stack(frames) if frames else np.empty((0, *self.shape[1:]), self.dtype)
        if isinstance(index, tuple):  # frames[t, rows, cols]: decode frame(s) t, then slice
            if not index:
                return self[:]
            first, rest = index[0], index[1:]
            if isinstance(first, (slice, list, np.ndarray)):
                return self[first][(slice(None), *rest)]
            return self[first][rest]
        if isinstance(index, (list, np.ndarray)):
            return np.stack([self[i] for i in index]) if len(index) else self[0:0]
        i = int(index)
        if not -len(self) <= i < len(self):
            raise IndexError(f"frame {i} is outside the run's {len(self)} frames")
        i %= len(self)
        return self._cached(i).copy()

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        stacked = self[:]
        return stacked if dtype is None else stacked.astype(dtype)

    def preload(self, indices) -> None:
        """Decode ``indices`` into the cache now (e.g. to fail early on a damaged file)."""
        for i in indices:
            self._cached(int(i) % len(self))

    def _cached(self, i: int) -> np.ndarray:
        with self._lock:
            frame = self._cache.get(i)
            if frame is not None:
                self._cache.move_to_end(i)
                return frame
        frame = self.decode(i)
        if frame.shape != self.shape[1:]:
            rows, columns = self.shape[1:]
            raise InputError(
                f"frame {i + 1} decoded to {' × '.join(map(str, frame.shape))} pixels, but the "
                f"header says Rows {rows} × Columns {columns}; the header does not describe the "
                "pixel data: export the run again"
            )
        frame = frame.astype(self.dtype, copy=False)
        if self.cache_frames:
            with self._lock:
                self._cache[i] = frame
                while len(self._cache) > self.cache_frames:
                    self._cache.popitem(last=False)
        return frame

    @property
    def cached_indices(self) -> tuple[int, ...]:
        """Indices of the frames held in the cache now (oldest first)."""
        with self._lock:
            return tuple(self._cache)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_cache"] = OrderedDict()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self.shape}, dtype={self.dtype})"
