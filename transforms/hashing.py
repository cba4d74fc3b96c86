"""A stable, vectorised string hash: the same bytes give the same 64 bits in
every process and on every runner (Python's own hash() is salted per
process). Used to look keys up and to partition them."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_PRIME = 0x100000001B3  # odd, so it has an inverse modulo 2**64
_INVERSE = pow(_PRIME, -1, 1 << 64)


def stable_hash(values: pa.Array) -> np.ndarray:
  """A 64-bit polynomial hash of each string, vectorised with numpy; the
  same bytes give the same hash in every process (unlike Python's hash)."""
  if isinstance(values, pa.ChunkedArray):
    values = values.combine_chunks()
  values = pc.fill_null(values, "").cast(pa.large_string())
  n = len(values)
  offsets = np.frombuffer(values.buffers()[1], np.int64)[
      values.offset:values.offset + n + 1]
  start, end = int(offsets[0]), int(offsets[-1])
  if end == start:
    return np.zeros(n, np.uint64)
  data = np.frombuffer(values.buffers()[2], np.uint8)[start:end]
  size = end - start
  powers = np.full(size, _PRIME, np.uint64)
  powers[0] = 1
  powers = np.cumprod(powers, dtype=np.uint64)
  inverse = np.full(size, _INVERSE, np.uint64)
  inverse[0] = 1
  inverse = np.cumprod(inverse, dtype=np.uint64)
  # A zero sentinel at the end: empty strings at the tail start there, and
  # reduceat then ends the string before them at the right byte.
  terms = np.append((data.astype(np.uint64) + np.uint64(1)) * powers,
                    np.uint64(0))
  inverse = np.append(inverse, np.uint64(0))
  rel = offsets[:-1] - start
  lengths = np.diff(offsets)
  h = np.add.reduceat(terms, rel) * inverse[rel]
  h[lengths == 0] = 0
  # Mix the bits so that h % P spreads evenly.
  h ^= h >> np.uint64(33)
  h *= np.uint64(0xFF51AFD7ED558CCD)
  h ^= h >> np.uint64(33)
  return h
