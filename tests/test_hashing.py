"""transforms/hashing.py: stable_hash (its definition, chunking, input
types), sorted_unique, in_sorted, stable_argsort, search_sorted.
Determinism across processes and threads is tested in
test_partitioned.py."""

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmsync.transforms import hashing
from crmsync.transforms.hashing import (in_sorted, search_sorted,
                                        sorted_unique, stable_argsort,
                                        stable_hash)

MASK = (1 << 64) - 1


def _reference(text):
  """The hash by its definition: sum of (byte + 1) * PRIME**i modulo 2**64,
  then the mixing steps; 0 for no bytes."""
  data = (text or "").encode()
  if not data:
    return 0
  h = sum((b + 1) * pow(hashing._PRIME, i, 1 << 64)
          for i, b in enumerate(data)) & MASK
  h ^= h >> 33
  h = (h * 0xFF51AFD7ED558CCD) & MASK
  h ^= h >> 33
  return h


VALUES = ["", "a", "b", "ab", "ba", "abc", None, "é", "a@b.co",
          "x" * 300, "Łukasz Müller", "", "+15552013344"]


def test_stable_hash_is_the_documented_polynomial_hash():
  h = stable_hash(pa.array(VALUES))
  assert h.dtype == np.uint64 and len(h) == len(VALUES)
  assert h.tolist() == [_reference(v) for v in VALUES]


def test_stable_hash_values_never_change():
  # Keys are partitioned by these in every process and on every runner;
  # pinned so that a change to the hash is a deliberate one.
  assert stable_hash(pa.array(["a", "abc", "a@b.co"])).tolist() == [
      13638395731262656046, 10440413018654644218, _reference("a@b.co")]


def test_null_and_empty_hash_to_zero_and_nothing_else_does():
  h = stable_hash(pa.array([None, "", " ", "\x00"]))
  assert h[0] == h[1] == 0
  assert h[2] != 0 and h[3] != 0 and h[2] != h[3]


def test_every_string_form_of_arrow_hashes_alike():
  expected = stable_hash(pa.array(VALUES))
  assert (stable_hash(pa.array(VALUES, pa.large_string())) == expected).all()
  chunked = pa.chunked_array([VALUES[:4], VALUES[4:9], [], VALUES[9:]])
  assert (stable_hash(chunked) == expected).all()
  sliced = pa.array(["pad", "pad"] + VALUES).slice(2)
  assert (stable_hash(sliced) == expected).all()


def test_long_columns_are_hashed_in_chunks_with_the_same_result(monkeypatch):
  values = pa.array([f"user{i}@x.com" if i % 5 else "" for i in range(1000)])
  whole = stable_hash(values)
  monkeypatch.setattr(hashing, "CHUNK_VALUES", 7)
  chunked = stable_hash(values)
  assert (chunked == whole).all()
  assert whole[0] == 0 and whole[1] == _reference("user1@x.com")
  assert len(set(whole[whole != 0].tolist())) == 800


def test_an_empty_column_hashes_to_nothing():
  assert stable_hash(pa.array([], pa.string())).tolist() == []
  assert stable_hash(pa.array(["", None, ""])).tolist() == [0, 0, 0]


def test_sorted_unique_is_numpys_unique():
  rng = np.random.default_rng(3)
  values = rng.integers(0, 50, 500).astype(np.uint64)
  assert np.array_equal(sorted_unique(values), np.unique(values))
  assert sorted_unique(values).dtype == np.uint64
  assert sorted_unique(np.array([3, 1, 3, 2, 1])).tolist() == [1, 2, 3]
  assert sorted_unique(np.array([5])).tolist() == [5]
  assert sorted_unique(np.array([], np.int64)).tolist() == []


def test_sorted_unique_leaves_its_argument_as_it_was():
  values = np.array([3, 1, 2])
  sorted_unique(values)
  assert values.tolist() == [3, 1, 2]


@pytest.mark.parametrize("values, sorted_set, expected", [
    ([1, 5, 2, 9, 0], [1, 2, 3], [True, False, True, False, False]),
    ([3, 3, 4], [1, 2, 3], [True, True, False]),  # past the last element
    ([1, 2], [], [False, False]),
    ([], [1, 2], []),
])
def test_in_sorted_is_numpys_isin(values, sorted_set, expected):
  values = np.array(values, np.int64)
  sorted_set = np.array(sorted_set, np.int64)
  assert in_sorted(values, sorted_set).tolist() == expected
  assert np.array_equal(in_sorted(values, sorted_set),
                        np.isin(values, sorted_set))


def test_in_sorted_on_hashes():
  hashes = stable_hash(pa.array(["a@x.com", "b@y.com", "c@z.org"]))
  known = sorted_unique(hashes[:2])
  asked = stable_hash(pa.array(["c@z.org", "b@y.com", "", "a@x.com"]))
  assert in_sorted(asked, known).tolist() == [False, True, False, True]


@given(st.lists(st.integers(0, 2**64 - 1)), st.integers(1, 64))
def test_stable_argsort_and_search_sorted_are_numpys(values, bits):
  # Few distinct values (bits small) make many ties, which a stable sort
  # keeps in input order.
  v = np.array([x >> (64 - bits) for x in values], np.uint64)
  assert np.array_equal(stable_argsort(v), np.argsort(v, kind="stable"))
  hay = np.sort(v[: len(v) // 2])
  needles = v[len(v) // 2:]
  assert np.array_equal(search_sorted(hay, needles),
                        np.searchsorted(hay, needles))
