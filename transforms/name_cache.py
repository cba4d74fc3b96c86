"""The given-name tables as sorted hashes, kept on disk between runs.

Building them (transforms/similarity.py: the nicknames table and
gender-guesser's name file, folded and hashed) takes a noticeable part of
a small job's run, in every process that compares names. The arrays are
saved once in crmsync's cache folder (worker.cache_dir: `$CRMSYNC_CACHE`,
else `~/.cache/crmsync`), named by a digest of everything they derive
from: the two packages' data and versions and the modules that fold and
hash them, so a new version of any of them builds new ones. A cache that
cannot be read or written is ignored: the arrays are built in memory.
"""

import contextlib
import hashlib
import importlib.metadata
import os
import threading
from typing import Callable, Tuple

import numpy as np

from crmsync.transforms.worker import cache_dir

_LOCK = threading.Lock()
_SOURCES = ("similarity.py", "hashing.py", "comparisons.py", "name_cache.py",
            os.path.join("normalizers", "name.py"),
            os.path.join("normalizers", "text.py"))


def _digest() -> str:
  import gender_guesser
  h = hashlib.sha256()
  for package in ("nicknames", "gender-guesser", "pyarrow"):
    h.update(importlib.metadata.version(package).encode())
  data = os.path.join(os.path.dirname(gender_guesser.__file__), "data",
                      "nam_dict.txt")
  here = os.path.dirname(os.path.abspath(__file__))
  for path in (data, *(os.path.join(here, s) for s in _SOURCES)):
    with open(path, "rb") as f:
      h.update(f.read())
  return h.hexdigest()[:16]


def cached_arrays(name: str, build: Callable[[], Tuple[np.ndarray, ...]]
                  ) -> Tuple[np.ndarray, ...]:
  """`build()`'s arrays, from the cache when it holds this version's; the
  first thread to ask builds them, the others wait for it."""
  with _LOCK:
    try:
      path = os.path.join(cache_dir(), f"{name}-{_digest()}.npz")
    except (OSError, importlib.metadata.PackageNotFoundError):
      return build()
    try:
      with np.load(path) as saved:
        return tuple(saved[f"a{i}"] for i in range(len(saved.files)))
    except (OSError, ValueError, KeyError):
      pass
    arrays = build()
    temp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp.npz"
    try:
      os.makedirs(cache_dir(), exist_ok=True)
      np.savez(temp, **{f"a{i}": a for i, a in enumerate(arrays)})
      os.replace(temp, path)  # whole, or not there
    except OSError:
      with contextlib.suppress(OSError):
        os.remove(temp)
    return arrays
