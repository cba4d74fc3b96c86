"""The fuzzy key: the last stage of the cascade, for rows no exact key found.

Blocking keeps it near-linear. Each row gets one code per block: the
phonetic codes (metaphone) of the block's columns, hashed together. Only rows
that share a code are compared, so "Jon Smith" at "ACME, Inc." meets
"Jonathan Smith" at "Acme Incorporated" through the (Last, Company) block
even though the first names' codes differ. A code shared by more than
`max_block` enriched rows is too common to tell anyone apart and is dropped,
so no row is ever compared with a whole city.

A row's candidates are ranked by the codes they share with it, each
weighted by how rare the code is among the source's rows (-log2 of its
share, as Splink's term-frequency adjustment weighs a rare value): sharing
a rare surname's code says more than sharing "Smith"'s or a big city's,
and without it the true match of a row with a typo lost ties to namesakes
by file order. The MAX_CANDIDATES best are scored with
transforms/similarity.py; the best one at or above the threshold matches
(ties: the first in file order). The same code runs in both joins: the
broadcast join over a whole source, the partitioned join over the rows
whose codes hash to a partition (all rows sharing a code meet there, so
the cap is the same), with the whole source's code counts (CodeCounts,
summed over its batches), so the rank and the winner are the same too.
"""

import itertools
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple

import jellyfish
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crmsync.transforms.ahead import default_threads
from crmsync.transforms.hashing import (mix64, runs, sorted_unique,
                                       stable_argsort, stable_hash)
from crmsync.transforms.normalizers.text import per_distinct
from crmsync.transforms.similarity import prepare, row_scores
from crmsync.transforms.spec import MatchKey

_DIGIT = re.compile(r"\d")
# Candidates scored per row at most: the best ranked.
MAX_CANDIDATES = 5


def blocks_of(key: MatchKey) -> Tuple[Tuple[str, ...], ...]:
  """The configured blocks, or every pair of the compared columns."""
  if key.fuzzy.blocks:
    return key.fuzzy.blocks
  if len(key.columns) == 1:
    return ((key.columns[0],),)
  return tuple(itertools.combinations(key.columns, 2))


def _code(value: str) -> str:
  """The phonetic code (metaphone) of the first word, or the word itself
  when it holds digits: zip codes and house numbers. The first word only, so
  "Acme Tech" and "Acme Technologies" share a code."""
  word = value.split(" ", 1)[0]
  if not word.isalpha() and _DIGIT.search(word):
    return word
  return jellyfish.metaphone(word) or word


def block_hash(block: int, codes: List[np.ndarray]) -> np.ndarray:
  """A stable hash of each row's codes in a block (the block's position,
  then its columns' code hashes, in order): rows share it when they share
  every code of the block."""
  out = np.full(len(codes[0]), block + 1, np.uint64)
  for code in codes:
    out = mix64(mix64(out) ^ code)
  return out


class FuzzyValues:
  """A table's side of the fuzzy key: the compared columns prepared for
  scoring, each compared column's code (hashed; 0: blank) per row, and the
  block entries (code hash, row)."""

  def __init__(self, fields: List[pa.Array], codes: np.ndarray,
               hashes: np.ndarray, rows: np.ndarray):
    self.fields, self.codes = fields, codes
    self.hashes, self.rows = hashes, rows

  @classmethod
  def of(cls, table, key: MatchKey, region: str,
         ready: Optional[Dict[str, pa.Array]] = None) -> "FuzzyValues":
    """`ready`: (column, kind) -> its values already prepared (as
    `prepare` would), for columns the caller has."""
    ready = ready or {}
    fields = [ready[c, kind] if (c, kind) in ready else
              prepare(table.column(c), kind, region)
              for c, kind in zip(key.columns, key.normalizers)]
    codes = {}
    for c in dict.fromkeys(key.columns + key.block_columns):
      if c in key.columns:
        values = fields[key.columns.index(c)]
      else:
        values = prepare(table.column(c), "text", region)
      codes[c] = per_distinct(values, _code)
    hashed = {c: stable_hash(v) for c, v in codes.items()}
    filled = {c: pc.is_valid(v).to_numpy(zero_copy_only=False)
              for c, v in codes.items()}
    hashes, rows = [], []
    for i, block in enumerate(blocks_of(key)):
      valid = np.flatnonzero(np.logical_and.reduce([filled[c]
                                                    for c in block]))
      hashes.append(block_hash(i, [hashed[c][valid] for c in block]))
      rows.append(valid)
    compared = np.vstack([hashed[c] for c in key.columns])
    return cls(fields, compared, np.concatenate(hashes), np.concatenate(rows))

  def only(self, keep: np.ndarray) -> "FuzzyValues":
    """The same rows with only the block entries in `keep` (a mask)."""
    return FuzzyValues(self.fields, self.codes, self.hashes[keep],
                       self.rows[keep])

  def spread(self, rows: np.ndarray, total: int) -> "FuzzyValues":
    """These values, of rows `rows` (ascending) of a table of `total` rows,
    at those rows: the others blank, in no block."""
    at = np.full(total, -1, np.int64)
    at[rows] = np.arange(rows.size)
    where = pa.array(at, mask=at < 0)
    codes = np.zeros((self.codes.shape[0], total), self.codes.dtype)
    codes[:, rows] = self.codes
    return FuzzyValues([f.take(where) for f in self.fields], codes,
                       self.hashes, rows[self.rows])

  def take(self, rows: np.ndarray) -> "FuzzyValues":
    """Rows `rows` renumbered 0..len-1, with their block entries."""
    at = np.full(len(self.fields[0]), -1, np.int64)
    at[rows] = np.arange(len(rows))
    keep = at[self.rows] >= 0
    return FuzzyValues([f.take(pa.array(rows)) for f in self.fields],
                       self.codes[:, rows], self.hashes[keep],
                       at[self.rows[keep]])


@dataclass(frozen=True)
class CodeCounts:
  """How many of a source's rows have each code, per compared column of a
  fuzzy key (`codes`: sorted code hashes, blank excluded; `counts`
  aligned), out of `rows` rows."""
  rows: int
  codes: Tuple[np.ndarray, ...]
  counts: Tuple[np.ndarray, ...]

  @classmethod
  def of(cls, values: FuzzyValues) -> "CodeCounts":
    found = [np.unique(c[c != 0], return_counts=True) for c in values.codes]
    return cls(values.codes.shape[1], tuple(f[0] for f in found),
               tuple(f[1] for f in found))

  @classmethod
  def total(cls, parts: Iterable["CodeCounts"]) -> "CodeCounts":
    """The counts of the rows of all `parts` (a source's batches)."""
    parts = list(parts)
    codes, counts = [], []
    for c in range(len(parts[0].codes)):
      every, at = np.unique(np.concatenate([p.codes[c] for p in parts]),
                            return_inverse=True)
      codes.append(every)
      counts.append(np.bincount(at, np.concatenate(
          [p.counts[c] for p in parts]), every.size).astype(np.int64))
    return cls(sum(p.rows for p in parts), tuple(codes), tuple(counts))

  def weights(self, codes: np.ndarray) -> np.ndarray:
    """Per compared column and row of `codes` (columns x rows), the
    weight of sharing that code: log2(rows / rows with it), float32."""
    # float32: the few weights a pair sums are then exact in float64, in
    # any order, so both joins rank alike to the bit.
    out = np.zeros(codes.shape, np.float32)
    for c, (known, rows_with) in enumerate(zip(self.codes, self.counts)):
      if not known.size:
        continue
      at = np.minimum(np.searchsorted(known, codes[c]), known.size - 1)
      n = np.where(known[at] == codes[c], rows_with[at], 0)
      out[c] = np.where(n > 0, np.log2(self.rows / np.maximum(n, 1)), 0)
    return out


class FuzzyIndex:
  """One source's rows, ready to be searched by block code. `counts`: the
  whole source's CodeCounts (default: those of `values`)."""

  def __init__(self, key: MatchKey, values: FuzzyValues,
               identities: np.ndarray, counts: Optional[CodeCounts] = None):
    self.weights = (counts or CodeCounts.of(values)).weights(values.codes)
    order = stable_argsort(values.hashes)
    hashes, rows = values.hashes[order], values.rows[order]
    # Sorted already: a block's size is the length of its run.
    starts, block_sizes = runs(hashes)
    kept = block_sizes <= key.fuzzy.max_block
    common = np.repeat(~kept, block_sizes)
    self.rows = rows[~common]
    # Each kept block once: its code hash, where its rows start, how many.
    self.block_hashes = hashes[starts[kept]]
    self.block_sizes = block_sizes[kept]
    self.block_starts = np.cumsum(self.block_sizes) - self.block_sizes
    self.fields, self.codes = values.fields, values.codes
    self.identities = identities  # (file, offset) per row: ties go first
    self.columns, self.kinds = key.columns, key.normalizers
    self.threshold = key.fuzzy.threshold
    self.dropped_blocks = int((block_sizes > key.fuzzy.max_block).sum())

  def candidates(self, query: FuzzyValues):
    """(query row, index row, rank) for the pairs that share a block code,
    each once; per query row at most MAX_CANDIDATES: those of the highest
    rank (the weights of the codes they share), then the first in file
    order. The rank depends on the pair and the source's code counts
    alone, so the partitioned join, which sees a row's blocks in different
    partitions, can rebuild the same choice."""
    # Sorted needles: searchsorted then walks the index in order.
    by_hash = np.argsort(query.hashes)
    needles = query.hashes[by_hash]
    total = 0
    if self.block_hashes.size:
      at = np.minimum(np.searchsorted(self.block_hashes, needles),
                      self.block_hashes.size - 1)
      counts = np.where(self.block_hashes[at] == needles,
                        self.block_sizes[at], 0)
      total = int(counts.sum())
    if not total:
      empty = np.zeros(0, np.int64)
      return empty, empty, np.zeros(0)
    starts = np.repeat(self.block_starts[at] - np.cumsum(counts) + counts,
                       counts)
    found = self.rows[starts + np.arange(total)]
    asked = np.repeat(query.rows[by_hash], counts)
    pairs = sorted_unique((asked.astype(np.int64) << 32) | found)
    asked, found = pairs >> 32, pairs & 0xFFFFFFFF
    # Column by column, only the agreeing codes' weights are added (in
    # float64: the same sum in any order).
    rank = np.zeros(asked.size)
    for c in range(len(self.codes)):
      mine = query.codes[c][asked]
      equal = np.flatnonzero((mine == self.codes[c][found]) & (mine != 0))
      rank[equal] += self.weights[c][found[equal]]
    # Index rows are in file order, so the pairs, sorted by (row, index
    # row), are in file order within each row.
    keep = top_candidates(asked, rank)
    return asked[keep], found[keep], rank[keep]

  def scored(self, query: FuzzyValues):
    """(query rows, index rows, rank, scores) of the candidates."""
    asked, found, rank = self.candidates(query)
    scores = row_scores([f.take(pa.array(asked)) for f in query.fields],
                        [f.take(pa.array(found)) for f in self.fields],
                        self.kinds) if asked.size else np.zeros(0)
    return asked, found, rank, scores

  def best(self, query: FuzzyValues):
    """(query rows, index rows, scores): each query row's best candidate at
    or above the threshold."""
    asked, found, rank, scores = self.scored(query)
    keep = choose(asked, rank, self.identities[found], scores,
                  self.threshold)
    return asked[keep], found[keep], scores[keep]


def top_candidates(rows: np.ndarray, rank: np.ndarray) -> np.ndarray:
  """Which (row, candidate) pairs are among their row's MAX_CANDIDATES
  best by rank (a mask). A row's pairs come in file order, which breaks
  ties."""
  per_row = np.bincount(rows)
  keep = per_row[rows] <= MAX_CANDIDATES
  over = np.flatnonzero(~keep)  # only rows with too many are ranked
  if over.size:
    over = over[np.lexsort((over, -rank[over], rows[over]))]
    keep[over[_ranks(rows[over]) < MAX_CANDIDATES]] = True
  return keep


def _ranks(sorted_rows: np.ndarray) -> np.ndarray:
  """0, 1, 2 ... within each run of equal rows."""
  starts, lengths = runs(sorted_rows)
  return np.arange(sorted_rows.size) - np.repeat(starts, lengths)


def choose(rows: np.ndarray, rank: np.ndarray, identities: np.ndarray,
           scores: np.ndarray, threshold: float) -> np.ndarray:
  """Per row, among its top candidates, the one with the highest score at
  or above the threshold, then the first in file order (a mask). Scored
  candidates from several places (partitions) give the same answer: the
  same candidate twice counts once."""
  # Each (row, identity) once, in (row, file) order.
  once = np.unique(np.stack([rows, identities]), axis=1, return_index=True)[1]
  top = np.zeros(rows.size, bool)
  top[once] = top_candidates(rows[once], rank[once])
  ok = top & (np.nan_to_num(scores, nan=-1.0) >= threshold)
  at = np.flatnonzero(ok)
  order = at[np.lexsort((identities[at], -scores[at], rows[at]))]
  first = np.ones(order.size, bool)
  first[1:] = rows[order][1:] != rows[order][:-1]
  keep = np.zeros(rows.size, bool)
  keep[order[first]] = True
  return keep


def fuzzy_index(table: pa.Table, key: MatchKey, region: str, rows: int,
                identities: np.ndarray,
                partition: Optional[Tuple[int, int]] = None,
                counts: Optional[CodeCounts] = None,
                routed: Optional[np.ndarray] = None) -> FuzzyIndex:
  """The FuzzyIndex of a source's first `rows` rows (its own rows, not the
  rows synthesised for duplicates). `partition` (p, P): only the block codes
  that hash to partition p of P, ranked by `counts`, the whole source's;
  `routed`: the rows (ascending) with a block code there, the only ones
  whose codes are worked out."""
  if partition is not None and counts is None:
    # The partition's own counts would rank otherwise.
    raise ValueError(f"fuzzy key {key.name}: a partition's index needs "
                     f"the whole source's CodeCounts")
  own = table.slice(0, rows)
  if routed is not None:
    own = own.select(list(dict.fromkeys(key.columns + key.block_columns))
                     ).take(pa.array(routed, pa.int64()))
  # The columns prepared on a thread each: the index is built once, and
  # everything after it waits for it.
  fields = list(dict.fromkeys(zip(key.columns, key.normalizers)))
  with ThreadPoolExecutor(default_threads()) as pool:
    ready = dict(zip(fields, pool.map(
        lambda field: prepare(own.column(field[0]), field[1], region),
        fields)))
  values = FuzzyValues.of(own, key, region, ready)
  if partition is not None:
    p, parts = partition
    values = values.only(values.hashes % np.uint64(parts) == np.uint64(p))
  if routed is not None:
    values = values.spread(routed, rows)
  return FuzzyIndex(key, values, identities[:rows], counts)

