"""Candidate pairs and their comparison vectors: what the scoring model
learns from and scores.

Every key of the cascade is a blocking rule: an exact key proposes the
vendor row holding the same normalised value, the fuzzy key (for rows no
exact key proposed anything) the rows sharing its phonetic blocks. Each
candidate pair is then compared on every compared column
(transforms/comparisons.py), so a key is evidence, weighed with the rest,
not a verdict. Random pairs (sampled original rows, each with a few rows
of a sample of vendor rows, all picked by stable hashes) are compared too,
for the u probabilities. Everything here names vendor rows by their
identity (matching.vendor_identities) and is rebuilt the same way by the
partitioned join (transforms/partition_scores.py).
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crmsync.transforms import handoff
from crmsync.transforms.ahead import AheadDoFn, default_threads
from crmsync.transforms.columns import FILE_COL, LINE_COL
from crmsync.transforms.hashing import mix64, stable_hash
from crmsync.transforms.comparisons import (NULL, Coded, Comparison,
                                            coded_levels, comparisons_of,
                                            place_levels, prepared,
                                            preparation)
from crmsync.transforms.matching import (BatchKeys, EnrichedIndex,
                                         KeyLookup, batch_identities,
                                         lookup_rows)
from crmsync.transforms.rows import RowBatch, contiguous
from crmsync.transforms.spec import MergeSpec

# For the u probabilities, sampled original rows are paired with
# RANDOM_PARTNERS rows each of a sample of VENDOR_SAMPLE vendor rows (a side
# input of the partitioned join), picked by a stable hash; the original rows
# are sampled (by a stable hash too) so that a job compares about
# RANDOM_PAIRS random pairs when both sides are as long.
RANDOM_PARTNERS = 4
RANDOM_PAIRS = 20_000
VENDOR_SAMPLE = RANDOM_PAIRS


@dataclass
class CandidatePairs:
  """One original batch's candidate pairs with one source, and its random
  pairs' level counts. Arrays are aligned per pair; `levels` and `log2_tf`
  are comparisons x pairs."""
  source: str
  ids: np.ndarray  # original row identity (matching.identities)
  # The vendor row's identity (matching.vendor_identities): the same in
  # either join, whatever its row in an index.
  vendor: np.ndarray
  # The original row's line, the vendor row's file (rank) and line: how a
  # match.decisions file names a pair (None without one).
  lines: Optional[np.ndarray]
  vendor_files: Optional[np.ndarray]
  vendor_lines: Optional[np.ndarray]
  # For a member of a row synthesised for vendor duplicates: that row's
  # vendor identity (else -1).
  groups: np.ndarray
  keys: np.ndarray  # cascade position of the first key proposing the pair
  levels: np.ndarray  # int8, comparisons.NULL for a blank side
  # A hash of the original row's names (its name columns, prepared): two
  # original rows with the same hash may be one person entered twice.
  original_names: np.ndarray
  # float32: log2 of the frequency of the pair's value among the vendor's
  # rows where it agrees exactly (NaN elsewhere: TermCounts.log2_tf)
  log2_tf: np.ndarray
  random_counts: List[np.ndarray]  # per comparison: level -> count
  original_rows: int  # rows of the batch
  vendor_rows: int  # rows the source read
  # Per comparison: the mean term frequency (a place: its rarest member's;
  # None: the source lacks the column).
  tf_mean: List[Optional[float]]
  # Per comparison: the source supplies the column (see VendorSide).
  supplied: List[bool]


class VendorSide:
  """A source's compared columns, prepared once per worker: the values of
  every index row, each value's count among the source's rows (for its term
  frequency), the mean term frequency (the sum of squared frequencies: the
  chance that two random rows share a value), which columns the source
  supplies (keeps): such a column is there to update the CRM's value, so its
  differing says nothing (a phone vendor's new number), while its agreeing
  does, and the random sample of its rows that u is estimated on."""

  def __init__(self, index: EnrichedIndex, comparisons, region: str):
    table, own = index.table, index.rows_read
    self.supplied = frozenset(index.source_columns.keep)
    compared = [c for c in single_columns(comparisons)
                if c.column in table.column_names]

    def prepare(c):
      values = _from_fuzzy_index(index, c, preparation(c))
      if values is None:
        values = prepared(table.column(c.column), c, region)
      else:  # the rows synthesised for duplicates are prepared here
        values = pa.concat_arrays([values, prepared(
            table.column(c.column).slice(own), c, region)])
      coded = Coded.of(values)
      return values, TermCounts.of(coded, own), coded
    # Column by column on a thread per core: the batches' threads wait for
    # it, and the kernels release the GIL.
    with ThreadPoolExecutor(default_threads()) as pool:
      done = list(pool.map(prepare, compared))
    values = {c.column: v for c, (v, _, _) in zip(compared, done)}
    coded = {c.column: k for c, (_, _, k) in zip(compared, done)}
    self.columns = PreparedColumns(values, coded)
    self.counts: Dict[str, TermCounts] = {
        c.column: t for c, (_, t, _) in zip(compared, done)}
    self.tf_mean = {c: t.tf_mean for c, t in self.counts.items()}
    ids = index.vendor_ids[:own]
    sample = sample_rows(ids)
    at = pa.array(sample)
    self.sample = VendorSample(
        {c: v.take(at) for c, v in values.items()}, ids[sample],
        {c: Coded(k.distinct, k.codes[sample]) for c, k in coded.items()})


class PreparedColumns:
  """One side's compared columns: column -> its prepared values
  (`values`), and each one's comparisons.Coded form (`coded`), made on
  first use unless given (threads that race make the same)."""

  def __init__(self, values: Dict[str, pa.Array],
               coded: Optional[Dict[str, Coded]] = None):
    self.values = values
    self._coded = dict(coded or {})

  def __contains__(self, column: str) -> bool:
    return column in self.values

  def coded(self, column: str) -> Coded:
    found = self._coded.get(column)
    if found is None:
      found = self._coded[column] = Coded.of(self.values[column])
    return found


def _from_fuzzy_index(index: EnrichedIndex, c: Comparison, how):
  """A column's own rows as the fuzzy key's index prepared them, where it
  did so the way the comparison does (else None). Not a kept column: the
  fuzzy key reads it as read, the index holds it as written (the
  multi-value policy applied)."""
  if c.column in index.source_columns.keep:
    return None
  for fuzzy in index.fuzzy.values():
    for column, kind, values in zip(fuzzy.columns, fuzzy.kinds,
                                    fuzzy.fields):
      if column == c.column and how == ("prepare", kind):
        return contiguous(values)
  return None


class TermCounts:
  """One column's distinct prepared values among a source's rows, and how
  many rows hold each."""

  def __init__(self, values: pa.Array, counts: np.ndarray, filled: int):
    self.values, self.counts, self.filled = values, counts, filled
    self._lookup = None  # built on the first find (a place's never is)

  def find(self, values: pa.Array) -> np.ndarray:
    """The position of each value among `values` (-1: none holds it)."""
    if self._lookup is None:  # a thread that races here builds the same
      # A KeyLookup, built once: pyarrow's index_in would build a hash
      # table of every value on each call.
      self._lookup = KeyLookup(self.values, np.arange(len(self.values)))
    return self._lookup.find(values)

  @classmethod
  def of(cls, values: Coded, rows: int) -> "TermCounts":
    """The counts among a coded column's first `rows` rows (its codes
    counted: the values are not hashed again)."""
    codes = values.codes[:rows]
    freq = np.bincount(codes[codes >= 0], minlength=len(values.distinct))
    held = np.flatnonzero(freq)
    return cls(values.distinct.take(pa.array(held)),
               freq[held].astype(np.int64), int(freq.sum()))

  @property
  def squares(self) -> int:
    """The sum of the counts' squares (exact: the partitioned join adds
    its partitions' up)."""
    return int((self.counts * self.counts).sum())

  @property
  def tf_mean(self) -> float:
    return tf_mean(self.squares, self.filled)

  def log2_tf(self, values: Coded) -> np.ndarray:
    """log2 of each row's value's frequency among the source's rows
    (float32; NaN where none holds it), looked up once per distinct
    value."""
    at = self.find(values.distinct)
    tf = np.full(len(at) + 1, np.nan, np.float32)  # the last: a null's
    known = np.flatnonzero(at >= 0)
    tf[known] = np.log2(self.counts[at[known]] / max(self.filled, 1))
    return tf[values.codes]


def tf_mean(squares: int, filled: int) -> float:
  """The mean term frequency, sum((count / filled)^2), from the sum of the
  counts' squares: computed from integers, so the same in either join."""
  return squares / max(filled, 1) ** 2


def sample_rows(vendor_ids: np.ndarray) -> np.ndarray:
  """The positions of the VENDOR_SAMPLE rows (of these own rows' vendor
  identities) with the smallest stable hash, in the order of their hash:
  the vendor side of the random pairs, the same however the rows are
  spread over batches or partitions (each part's smallest contain the
  whole's)."""
  h = mix64(vendor_ids)
  order = np.lexsort((vendor_ids, h))
  return order[:VENDOR_SAMPLE]


def random_pairs(ids: np.ndarray, sample_ids: np.ndarray, vendor_rows: int,
                 proposed_rows: np.ndarray, proposed_ids: np.ndarray):
  """(original rows, sample positions) of a batch's random pairs: original
  rows sampled by a stable hash of their identity (`ids`), each with
  RANDOM_PARTNERS rows of the vendor's sample picked by a stable hash, less
  the pairs a key proposed (`proposed_rows`, `proposed_ids`: their rows
  and vendor identities): a random pair that a key proposed is most likely
  a match, and u is about pairs that are not (with a unique email, the
  chance that a random pair agrees is the chance that it is the match)."""
  k = sample_ids.size
  share = min(1.0, RANDOM_PAIRS / (RANDOM_PARTNERS * max(vendor_rows, 1)))
  draw = mix64(ids) >> np.uint64(40)  # 24 bits, uniform
  sampled = np.flatnonzero(draw < np.uint64(int(share * (1 << 24))))
  if not k or not sampled.size:
    empty = np.zeros(0, np.int64)
    return empty, empty
  salts = np.arange(1, RANDOM_PARTNERS + 1, dtype=np.int64)
  asked = np.repeat(sampled, salts.size)
  pick = (mix64(ids[asked] ^ np.tile(salts * 0x5DEECE66D, sampled.size)) %
          np.uint64(k)).astype(np.int64)
  by_id = np.argsort(sample_ids)
  at = np.minimum(np.searchsorted(sample_ids[by_id], proposed_ids), k - 1)
  in_sample = sample_ids[by_id][at] == proposed_ids
  proposed = (proposed_rows[in_sample] * k + by_id[at[in_sample]])
  keep = ~np.isin(asked * k + pick, proposed)
  return asked[keep], pick[keep]


def candidate_rows(batch_keys, index: EnrichedIndex, spec: MergeSpec):
  """(original rows, index rows, key positions, groups) of a batch's
  candidate pairs with one source, each pair once, with the first key
  proposing it (first_per_pair); `groups`: for a member of a row
  synthesised for vendor duplicates, that row's vendor identity (else -1).
  `batch_keys`: the batch's matching.BatchKeys."""
  rows, found, keys, groups = [], [], [], []
  proposed = np.zeros(batch_keys.num_rows, bool)
  for k, key in enumerate(spec.keys):
    if key.fuzzy or key.name not in index.lookups:
      continue
    hit = lookup_rows(batch_keys.exact(key), index.lookups[key.name])
    at = np.flatnonzero(hit >= 0)
    members_at, members, of = synthesised_members(index, at, hit[at])
    at_all = np.concatenate([at, members_at])
    rows.append(at_all)
    found.append(np.concatenate([hit[at], members]))
    groups.append(np.concatenate([np.full(at.size, -1, np.int64), of]))
    keys.append(np.full(at_all.size, k, np.int8))
    proposed[at] = True
  for k, key in enumerate(spec.keys):
    if not key.fuzzy or key.name not in index.fuzzy:
      continue
    todo = np.flatnonzero(~proposed)
    if not todo.size:
      break
    asked, hit, _ = index.fuzzy[key.name].candidates(
        batch_keys.fuzzy(key, todo))
    rows.append(todo[asked])
    found.append(hit)
    groups.append(np.full(asked.size, -1, np.int64))
    keys.append(np.full(asked.size, k, np.int8))
  if not rows:
    empty = np.zeros(0, np.int64)
    return empty, empty, np.zeros(0, np.int8), empty
  rows, found = np.concatenate(rows), np.concatenate(found)
  keys, groups = np.concatenate(keys), np.concatenate(groups)
  ids = index.vendor_ids
  groups = np.where(groups >= 0, ids[np.maximum(groups, 0)], -1)
  first = first_per_pair(rows, ids[found], keys, groups)
  return rows[first], found[first], keys[first], groups[first]


def first_per_pair(rows: np.ndarray, vendor_ids: np.ndarray,
                   keys: np.ndarray, groups: np.ndarray) -> np.ndarray:
  """Positions of each (original row, vendor identity) pair once, with the
  first key proposing it, as a member of a synthesised row (`groups`: its
  vendor identity, else -1) before as itself; sorted by row, then vendor
  identity."""
  order = np.lexsort((-groups, keys, vendor_ids, rows))
  r, v = rows[order], vendor_ids[order]
  first = np.ones(order.size, bool)
  first[1:] = (r[1:] != r[:-1]) | (v[1:] != v[:-1])
  return order[first]


def synthesised_members(index: EnrichedIndex, rows: np.ndarray,
                        hits: np.ndarray):
  """(rows, member rows, the synthesised row): for hits on a row
  synthesised from vendor rows sharing the key's value, each member too.
  The synthesised row carries one member's names; at a shared inbox in the
  vendor file the others are other people, and each must be compared as
  itself."""
  synthesised = np.flatnonzero(hits >= index.rows_read)
  if not synthesised.size:
    empty = np.zeros(0, np.int64)
    return empty, empty, empty
  out_rows, out_members, out_of = [], [], []
  for s in np.unique(hits[synthesised]).tolist():
    members = np.asarray(index.members[s], np.int64)
    asking = rows[synthesised[hits[synthesised] == s]]
    out_rows.append(np.repeat(asking, members.size))
    out_members.append(np.tile(members, asking.size))
    out_of.append(np.full(asking.size * members.size, s, np.int64))
  return (np.concatenate(out_rows), np.concatenate(out_members),
          np.concatenate(out_of))


def tf_columns(comparisons: Sequence[Comparison]) -> List[str]:
  """The columns whose exact level is adjusted for its term frequency
  (a place's members are not)."""
  return [c.column for c in comparisons if c.kind != "place"]


def single_columns(comparisons: Sequence[Comparison]) -> List[Comparison]:
  """The single-column comparisons, place members included."""
  return [m for c in comparisons for m in (c.members or (c,))]


def _column_levels(c: Comparison, original: PreparedColumns,
                   vendor: PreparedColumns, rows: np.ndarray,
                   found: np.ndarray) -> np.ndarray:
  if c.column not in original or c.column not in vendor:
    return np.full(rows.size, NULL, np.int8)
  return coded_levels(c, original.coded(c.column), rows,
                      vendor.coded(c.column), found)


def compare_pairs(comparisons: Sequence[Comparison],
                  original: PreparedColumns, vendor: PreparedColumns,
                  rows: np.ndarray, found: np.ndarray,
                  original_tf: Optional[Dict[str, np.ndarray]] = None):
  """(levels, log2_tf) of pairs (original rows, vendor rows), comparisons x
  pairs; `original`, `vendor`: the two sides' compared columns;
  `original_tf`: column -> per original row, log2 of its value's frequency
  among the vendor's rows (TermCounts.log2_tf): where a pair agrees
  exactly, the two values are one (not where it agrees crosswise, first
  name with last: those get no term-frequency adjustment)."""
  shape = (len(comparisons), rows.size)
  out = np.full(shape, NULL, np.int8)
  tf = np.full(shape, np.nan, np.float32)
  for i, c in enumerate(comparisons):
    if c.kind == "place":
      out[i] = place_levels(c, np.vstack([
          _column_levels(m, original, vendor, rows, found)
          for m in c.members]))
      continue
    out[i] = _column_levels(c, original, vendor, rows, found)
  swapped = _swapped_names(comparisons, out, original, vendor, rows, found)
  for i, c in enumerate(comparisons):
    if c.kind != "place" and c.column in (original_tf or {}):
      exact = (out[i] == c.exact) & ~swapped
      tf[i, exact] = original_tf[c.column][rows[exact]]
  return out, tf


def _swapped_names(comparisons, out, original: PreparedColumns,
                   vendor: PreparedColumns, rows: np.ndarray,
                   found: np.ndarray) -> np.ndarray:
  """Vendors swap first and last names: where both names disagree
  straight and agree better crosswise, the crosswise levels count. Returns
  which pairs that was (a mask)."""
  swapped_pairs = np.zeros(out.shape[1], bool)
  names = [i for i, c in enumerate(comparisons) if c.kind == "name"]
  if len(names) != 2:
    return swapped_pairs
  i, j = names
  a, b = comparisons[i], comparisons[j]
  todo = np.flatnonzero((out[i] != NULL) & (out[i] <= a.else_level) &
                        (out[j] != NULL) & (out[j] <= b.else_level))
  if not todo.size or any(c.column not in original or
                          c.column not in vendor for c in (a, b)):
    return swapped_pairs
  rows, found = rows[todo], found[todo]
  # Crosswise, a given name meets a surname: compared by letters only.
  ab = coded_levels(Comparison(a.column, "name"), original.coded(a.column),
                    rows, vendor.coded(b.column), found)
  ba = coded_levels(Comparison(b.column, "name"), original.coded(b.column),
                    rows, vendor.coded(a.column), found)
  swapped = (ab.astype(np.int16) + ba) > 0  # one blank, one else: no
  for row, cross, c in ((i, ab, a), (j, ba, b)):  # onto c's own levels
    out[row, todo[swapped]] = np.where(cross[swapped] == NULL, NULL,
                                       cross[swapped] + c.else_level)
  swapped_pairs[todo[swapped]] = True
  return swapped_pairs


class ScorePairs(AheadDoFn):
  """Original RowBatch -> CandidatePairs, one per source (side input: the
  sources' EnrichedIndexes or their Handoffs). Batches are compared on a
  thread per core (transforms/ahead.py)."""

  def __init__(self, spec: MergeSpec):
    self._spec = spec

  def setup(self):
    super().setup()
    self._comparisons = comparisons_of(self._spec)
    self._opened = {}  # index name -> (EnrichedIndex, VendorSide)
    self._lock = threading.Lock()

  def _open(self, index):
    with self._lock:  # once per worker, whichever thread asks first
      name = index.name
      if name not in self._opened:
        opened = handoff.opened(index)
        self._opened[name] = (opened, VendorSide(
            opened, self._comparisons, self._spec.phone_region))
      return self._opened[name]

  def prepare(self, batch):
    return handoff.opened(batch)  # a parked batch (BroadcastMerge)

  def work(self, batch: RowBatch, indexes=()) -> list:
    spec, comparisons = self._spec, self._comparisons
    original = OriginalSide(batch, spec, comparisons)
    out = []
    for index in indexes:
      index, vendor = self._open(index)
      rows, found, by, groups = candidate_rows(original.keys, index, spec)
      out.append(candidate_pairs(
          index.name, spec, comparisons, original, vendor, rows, found, by,
          groups, index.vendor_ids[found],
          *vendor_locations(spec, index.table, found),
          {column: vendor.counts[column].log2_tf(
              original.columns.coded(column))
           for column in tf_columns(comparisons)
           if column in vendor.counts and column in original.values},
          vendor.sample, index.rows_read, vendor.tf_mean, vendor.supplied))
    return out


class OriginalSide:
  """An original batch's side of its pairs: its keys (matching.BatchKeys),
  its compared columns' prepared values, its rows' identities, lines and
  a hash of their names."""

  def __init__(self, batch: RowBatch, spec: MergeSpec, comparisons):
    table = batch.table
    self.num_rows = table.num_rows
    self.keys = BatchKeys(table, spec)
    self.values = {c.column: self.keys.column(c.column, preparation(c))
                   for c in single_columns(comparisons)
                   if c.column in table.column_names}
    self.columns = PreparedColumns(self.values)
    self.ids = batch_identities(batch)
    self.names = _names_hash(comparisons, self.values, table.num_rows)
    self.lines = pc.cast(table.column(LINE_COL), pa.int64()).to_numpy()


class VendorSample:
  """The vendor rows the random pairs are drawn from (sample_rows), in
  sample order: their prepared compared values (`columns`) and vendor
  identities."""

  def __init__(self, values: Dict[str, pa.Array], ids: np.ndarray,
               coded: Optional[Dict[str, Coded]] = None):
    self.columns, self.ids = PreparedColumns(values, coded), ids

  @classmethod
  def of(cls, table: pa.Table, ids: np.ndarray, comparisons, region: str
         ) -> "VendorSample":
    """From raw rows (their columns as the index holds them)."""
    return cls({c.column: prepared(table.column(c.column), c, region)
                for c in single_columns(comparisons)
                if c.column in table.column_names}, ids)


def vendor_locations(spec: MergeSpec, table: pa.Table, rows: np.ndarray):
  """(file ranks, lines) of a vendor table's `rows`, as a match.decisions
  file names them; (None, None) without one: the pairs need not carry
  them to the decision."""
  if not spec.decisions:
    return None, None
  take = pa.array(rows, pa.int64())
  return (table.column(FILE_COL).take(take).to_numpy(),
          table.column(LINE_COL).take(take).to_numpy())


def candidate_pairs(source: str, spec: MergeSpec, comparisons,
                    original: OriginalSide, vendor, rows: np.ndarray,
                    found: np.ndarray, by: np.ndarray, groups: np.ndarray,
                    vendor_ids: np.ndarray,
                    vendor_files: Optional[np.ndarray],
                    vendor_lines: Optional[np.ndarray],
                    original_tf: Dict[str, np.ndarray],
                    sample: VendorSample, vendor_rows: int,
                    tf_means: Dict[str, float], supplied) -> CandidatePairs:
  """One batch's CandidatePairs with one source, either join: pairs
  (original `rows`, `found`: rows of `vendor`, whose `columns` are the
  vendor's compared columns), proposed by keys `by`, with their
  vendor identities, groups, files and lines (vendor_locations);
  `original_tf`: per compared column, TermCounts.log2_tf of the batch's
  values; `sample`: the vendor's VendorSample; `vendor_rows`: the rows the
  source read; `tf_means`: column -> its mean term frequency; `supplied`:
  the columns the source keeps."""
  lv, tf = compare_pairs(comparisons, original.columns, vendor.columns, rows,
                         found, original_tf)
  _agree_by_key(lv, by, spec, comparisons)
  asked, pick = random_pairs(original.ids, sample.ids, vendor_rows, rows,
                             vendor_ids)
  return CandidatePairs(
      source, original.ids[rows], vendor_ids,
      None if vendor_lines is None else original.lines[rows],
      vendor_files, vendor_lines, groups, by, lv, original.names[rows], tf,
      random_counts(comparisons, original.columns, sample.columns, asked,
                    pick),
      original.num_rows, vendor_rows,
      [_tf_mean(c, tf_means) for c in comparisons],
      [_supplied(c, supplied) for c in comparisons])


def _supplied(comparison, kept) -> bool:
  """A comparison whose "else" weighs nothing: every column of it is one
  the source keeps (a phone vendor's new number is the point of its file).
  Never a name: mapping a vendor's "First Name" onto First keeps it, and
  Susan and Patrick are still two people."""
  return comparison.kind != "name" and all(
      m.column in kept for m in comparison.members or (comparison,))


def random_counts(comparisons, original: PreparedColumns,
                  vendor: PreparedColumns, asked: np.ndarray,
                  partner: np.ndarray) -> List[np.ndarray]:
  """Per comparison, the count of each level among the random pairs
  (original rows `asked`, vendor rows `partner`)."""
  rl, _ = compare_pairs(comparisons, original, vendor, asked, partner)
  return [np.bincount(rl[i][rl[i] != NULL], minlength=len(c.levels))
          for i, c in enumerate(comparisons)]


def _names_hash(comparisons, original: Dict, rows: int) -> np.ndarray:
  """Per original row, a stable hash of its prepared name columns."""
  out = np.zeros(rows, np.uint64)
  for c in comparisons:
    if c.kind == "name" and c.column in original:
      out = mix64((out * np.uint64(31)) ^ stable_hash(original[c.column]))
  return out


def _tf_mean(c: Comparison, tf_mean: Dict[str, float]) -> Optional[float]:
  """A column's mean term frequency; a place's, the smallest of its
  members'."""
  if c.kind != "place":
    return tf_mean.get(c.column)
  known = [tf_mean[m.column] for m in c.members if m.column in tf_mean]
  return min(known) if known else None


def _agree_by_key(lv: np.ndarray, by: np.ndarray, spec: MergeSpec,
                  comparisons: Sequence[Comparison]) -> None:
  """A pair an exact one-column key proposed agrees exactly on that
  column, even where the vendor's cell held several values and the one
  written is not the one that matched."""
  for k, key in enumerate(spec.keys):
    if key.fuzzy or len(key.columns) != 1:
      continue
    for i, c in enumerate(comparisons):
      if c.column == key.columns[0]:
        lv[i, by == k] = c.exact


def fixed_comparisons(spec: MergeSpec, comparisons) -> Dict[int, List[int]]:
  """Key position -> the comparisons its own columns make agree (left out
  of that key's EM session); a fuzzy key fixes none."""
  return {k: [i for i, c in enumerate(comparisons)
              if any(m.column in key.columns for m in c.members or (c,))]
          for k, key in enumerate(spec.keys) if not key.fuzzy}

