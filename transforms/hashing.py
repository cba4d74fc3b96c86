"""A stable, vectorised string hash: the same bytes give the same 64 bits in
every process and on every runner (Python's own hash() is salted per
process). Used to look keys up and to partition them. Also sorted_unique,
numpy's unique without its slow hash table."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crmsync.transforms.rows import contiguous

_PRIME = 0x100000001B3  # odd, so it has an inverse modulo 2**64
_INVERSE = pow(_PRIME, -1, 1 << 64)


_POWERS = (np.ones(1, np.uint64), np.ones(1, np.uint64))


def _powers(size: int):
  """PRIME**i and PRIME**-i modulo 2**64 for i < size, computed once and
  grown as needed (every batch would otherwise pay two cumprods). Beam's
  workers run bundles in threads: the pair is read and replaced as one
  tuple, never mutated in place."""
  global _POWERS
  powers = _POWERS
  if len(powers[0]) < size:
    n = max(size, 2 * len(powers[0]))
    grown = []
    for base in (_PRIME, _INVERSE):
      p = np.full(n, base, np.uint64)
      p[0] = 1
      grown.append(np.cumprod(p, dtype=np.uint64))
    powers = _POWERS = tuple(grown)
  return powers


CHUNK_VALUES = 16_384  # bounds the temporaries (and the powers cached)


def stable_hash(values: pa.Array) -> np.ndarray:
  """A 64-bit polynomial hash of each string, vectorised with numpy; the
  same bytes give the same hash in every process (unlike Python's hash)."""
  values = contiguous(values)
  values = pc.fill_null(values, "").cast(pa.large_string())
  if len(values) <= CHUNK_VALUES:
    return _hash_chunk(values)
  return np.concatenate([
      _hash_chunk(values.slice(i, CHUNK_VALUES))
      for i in range(0, len(values), CHUNK_VALUES)])


def _hash_chunk(values: pa.Array) -> np.ndarray:
  n = len(values)
  offsets = np.frombuffer(values.buffers()[1], np.int64)[
      values.offset:values.offset + n + 1]
  start, end = int(offsets[0]), int(offsets[-1])
  if end == start:
    return np.zeros(n, np.uint64)
  data = np.frombuffer(values.buffers()[2], np.uint8)[start:end]
  size = end - start
  powers, inverse = _powers(size + 1)
  # A zero term at the end: empty strings at the tail start there, and
  # reduceat then ends the string before them at the right byte.
  terms = np.empty(size + 1, np.uint64)
  np.multiply(data + np.uint64(1), powers[:size], out=terms[:size])
  terms[size] = 0
  rel = offsets[:-1] - start
  lengths = np.diff(offsets)
  h = np.add.reduceat(terms, rel) * inverse[rel]
  h[lengths == 0] = 0
  # Mix the bits so that h % P spreads evenly.
  h ^= h >> np.uint64(33)
  h *= np.uint64(0xFF51AFD7ED558CCD)
  h ^= h >> np.uint64(33)
  return h


def partition_of(values: pa.Array, partitions: int) -> np.ndarray:
  """The partition (0..partitions-1) of each value, by its stable hash."""
  return hash_partition(stable_hash(values), partitions)


def hash_partition(hashes: np.ndarray, partitions: int) -> np.ndarray:
  """The partition (0..partitions-1) of each 64-bit hash."""
  return (hashes % np.uint64(partitions)).astype(np.int64)


def mix64(values: np.ndarray) -> np.ndarray:
  """splitmix64 of 64-bit integers: a stable pseudo-random number for each
  (Steele, Lea and Flood, "Fast splittable pseudorandom number generators",
  OOPSLA 2014)."""
  z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
  z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
  z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
  return z ^ (z >> np.uint64(31))


def stable_argsort(values: np.ndarray) -> np.ndarray:
  """np.argsort(values, kind="stable") of up to 3e9 integers, in a fraction
  of its time on large arrays (numpy's stable sort of 64-bit integers is a
  merge sort): an unstable argsort, then the equal values' positions put
  back in input order by one sort of (run of equal values, position)."""
  n = values.size
  order = np.argsort(values)
  ordered = values[order]
  run = np.zeros(n, np.int64)
  np.cumsum(ordered[1:] != ordered[:-1], out=run[1:])
  return np.sort(run * n + order) % n


def search_sorted(haystack: np.ndarray, needles: np.ndarray) -> np.ndarray:
  """np.searchsorted(haystack, needles) with the needles searched in sorted
  order: the binary searches through a large haystack then walk it in
  order, and stay in the CPU's cache."""
  if needles.size < 2:
    return np.searchsorted(haystack, needles)
  order = np.argsort(needles)
  out = np.empty(needles.size, np.intp)
  out[order] = np.searchsorted(haystack, needles[order])
  return out


def in_sorted(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
  """np.isin against a sorted set of distinct values, by binary search
  (np.isin sorts or hashes the set again on every call)."""
  if not sorted_set.size:
    return np.zeros(len(values), bool)
  at = np.minimum(search_sorted(sorted_set, values), sorted_set.size - 1)
  return sorted_set[at] == values


def runs(sorted_values: np.ndarray):
  """(where each run of equal values starts, its length) in a sorted
  array; both empty for an empty one."""
  if not sorted_values.size:
    return np.zeros(0, np.int64), np.zeros(0, np.int64)
  starts = np.flatnonzero(np.r_[True,
                                sorted_values[1:] != sorted_values[:-1]])
  return starts, np.diff(np.append(starts, sorted_values.size))


def sorted_unique(values: np.ndarray) -> np.ndarray:
  """np.unique by sorting: numpy 2's hash-based unique is several times
  slower on a million integers."""
  values = np.sort(values)
  return values[runs(values)[0]]
