"""Merging enriched sources into the original rows, batch by batch.

`BuildIndex` turns one enriched source into an EnrichedIndex; `Merge` joins
each original batch against every index (a broadcast hash join: the indexes
are a side input, handed over as memory-mapped files by the job) and
resolves the output columns. Batches merge on a thread per core
(transforms/ahead.py).
"""

import logging
from typing import Dict, List, Optional, Sequence

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from crmsync.transforms import confirm, handoff, validity
from crmsync.transforms.columns import FILE_COL, LINE_COL, OFFSET_COL
from crmsync.transforms.ahead import AheadDoFn
from crmsync.transforms.fuzzy import FuzzyValues
from crmsync.transforms.hashing import in_sorted, sorted_unique
from crmsync.transforms.progress import Progress
from crmsync.transforms.matching import (EnrichedIndex, build_index,
                                         key_values, lookup_rows)
from crmsync.transforms.resolve import (MATCH_COLUMNS, MATCH_KEY_COL, MATCH_SCORE_COL,
                                output_layout, resolution, resolve_column)
from crmsync.transforms.rows import RowBatch
from crmsync.transforms.spec import EnrichedSpec, MergeSpec

_LOG = logging.getLogger(__name__)

CONFLICT_COLUMNS = ("file_index", "line", "offset", "column", "original",
                    "enriched", "source", "strategy", "resolution")
INVALID_COLUMNS = ("file_index", "line", "offset", "column", "value",
                   "source", "source_file", "source_line", "reason")


class BuildIndex(beam.PTransform):
  """RowBatch of one enriched source -> a single EnrichedIndex.

  `header`: the source's header as read (ReadCsv.header); `files`: its files
  (ReadCsv.files), for the reports. With `folder` (one every worker can
  reach, such as the run's temporary folder) the index is written there and
  travels as a small Handoff (see transforms/handoff.py)."""

  def __init__(self, source: EnrichedSpec, spec: MergeSpec,
               header: Sequence[str], files: List[str],
               folder: Optional[str] = None):
    super().__init__()
    mapped = tuple(source.rename.get(c, c) for c in header)
    self._args = (source, spec, mapped, list(files))
    self._folder = folder

  def expand(self, rows):
    source, spec, header, files = self._args
    indexed = (rows
               | "Collect" >> beam.combiners.ToList()
               | "Index" >> beam.Map(
                   lambda batches: build_index(batches, source, spec, header,
                                               files)))
    if self._folder is None:
      return indexed
    folder = self._folder
    return indexed | "Handoff" >> beam.Map(lambda index: handoff.save(
        index, FileSystems.join(folder, handoff.attempt_name(
            handoff.file_name(index.name), ".index")),
        index.name, index.columns))


def open_index(index) -> EnrichedIndex:
  """An EnrichedIndex, whether it came in the element or as a Handoff."""
  return handoff.load(index) if isinstance(index, handoff.Handoff) else index


def layout_of(spec: MergeSpec, indexes: Sequence[EnrichedIndex]):
  return output_layout(spec, [(i.name, i.columns) for i in indexes])


def sort_indexes(indexes, source_order: Sequence[str]):
  """Side inputs arrive in any order: put them back in priority order."""
  rank = {name: i for i, name in enumerate(source_order)}
  return sorted(indexes, key=lambda i: rank[i.name])


class MergeBatches(AheadDoFn):
  """Original RowBatch -> merged RowBatch, plus tagged conflicts (Arrow
  batches), hits (source, index rows used) and per-batch stats. The
  broadcast join: every enriched index is a side input. Batches merge on a
  thread per core."""

  def __init__(self, spec: MergeSpec, source_order: Sequence[str]):
    self._spec = spec
    self._order = tuple(source_order)

  def setup(self):
    super().setup()
    self._progress = Progress("merged")
    self._opened = {}  # Handoff path -> EnrichedIndex, once per worker

  def _open(self, index) -> EnrichedIndex:
    if not isinstance(index, handoff.Handoff):
      return index
    if index.path not in self._opened:
      self._opened[index.path] = open_index(index)
    return self._opened[index.path]

  def process(self, batch: RowBatch, indexes: List[EnrichedIndex]):
    indexes = sort_indexes([self._open(i) for i in indexes], self._order)
    yield from super().process(batch, indexes)

  def work(self, batch: RowBatch, indexes: List[EnrichedIndex]) -> list:
    return list(self._merge_outputs(batch, indexes))

  def emit(self, outputs):
    return count_outputs(outputs, self._progress)

  def _merge_outputs(self, batch, indexes):
    spec = self._spec
    values = _BatchKeys(batch.table, spec)
    gathered, matches = {}, {}
    for index in indexes:
      match = SourceMatch(batch.num_rows)
      for k, key in enumerate(spec.keys):
        if key.name not in index.lookups and key.name not in index.fuzzy:
          continue
        pending = match.how < 0
        if not pending.any():
          break
        if key.fuzzy:
          todo = np.flatnonzero(pending)
          rows, found, scores = index.fuzzy[key.name].best(
              values.fuzzy(key, todo))
          rows = todo[rows]
        else:
          found = lookup_rows(values.exact(key), index.lookups[key.name],
                              pending)
          rows = np.flatnonzero(found >= 0)
          found, scores = found[rows], np.ones(rows.size)
        hits = (index.table.take(pa.array(found, pa.int64()))
                if key.confirm else None)
        yield from match.accept(batch, k, key, rows, found, scores, hits,
                                index.name, index.files, spec)
      matches[index.name] = match
      gathered[index.name] = index.table.take(
          pa.array(match.hit, mask=match.how < 0))
      used = sorted_unique(match.hit[match.how >= 0])
      if used.size:
        yield beam.pvalue.TaggedOutput("hits", (index.name, used))
    yield from resolve_batch(batch, gathered, matches,
                             layout_of(spec, indexes), spec,
                             values.column_keys())


class _BatchKeys:
  """A batch's key values, computed the first time a source needs them."""

  def __init__(self, table: pa.Table, spec: MergeSpec):
    self._table, self._spec = table, spec
    self._exact: Dict[str, pa.Array] = {}
    self._fuzzy: Dict[str, FuzzyValues] = {}

  def column_keys(self) -> Dict[str, pa.Array]:
    """Column -> its keys, for the one-column exact keys computed so far
    whose normalizer is the column's (conflicts compare by those)."""
    found = {}
    for key in self._spec.keys:
      if (key.name in self._exact and len(key.columns) == 1 and
          self._spec.key_normalizer(key.columns[0]) == key.normalizers[0]):
        found.setdefault(key.columns[0], self._exact[key.name])
    return found

  def exact(self, key) -> pa.Array:
    if key.name not in self._exact:
      self._exact[key.name] = key_values(self._table, key,
                                         self._spec.phone_region)
    return self._exact[key.name]

  def fuzzy(self, key, rows: np.ndarray) -> FuzzyValues:
    """The fuzzy key's values of `rows` (renumbered from 0): computed for
    the rows the first source asks for, which later sources (asking for the
    rows still unmatched for them) mostly share."""
    known = self._fuzzy.get(key.name)
    if known is None or not in_sorted(rows, known[0]).all():
      rows_all = rows if known is None else np.union1d(known[0], rows)
      known = (rows_all, FuzzyValues.of(
          self._table.take(pa.array(rows_all)), key,
          self._spec.phone_region))
      self._fuzzy[key.name] = known
    return known[1].take(np.searchsorted(known[0], rows))


class SourceMatch:
  """What one source's cascade gave each row of a batch: the row of the
  source that matched (`hit`), the cascade position of the key (`how`, -1:
  none) and the score (1 for an exact key). Both joins fill it."""

  def __init__(self, n: int):
    self.hit = np.full(n, -1, np.int64)
    self.how = np.full(n, -1, np.int64)
    self.score = np.full(n, np.nan)
    self.rejected = 0

  def accept(self, batch: RowBatch, k: int, key, rows, found, scores,
             hits: pa.Table, source: str, files, spec: MergeSpec):
    """Takes the hits of key `k` for rows no earlier key matched, unless
    the key's confirming columns reject them (reported, and the row stays
    free for the next key). `hits`: the source's rows that hit (with
    FILE_COL, LINE_COL and the key's columns), aligned with `rows`."""
    free = self.how[rows] < 0
    rows, found, scores = rows[free], found[free], scores[free]
    if key.confirm and rows.size:
      hits = hits.filter(pa.array(free))
      bad, confirmed = confirm.rejected(key, spec.phone_region, batch.table,
                                        rows, hits)
      if bad.any():
        self.rejected += int(bad.sum())
        yield beam.pvalue.TaggedOutput("rejected_matches",
                                       confirm.rejected_batch(
            batch, rows[bad], source, key, confirmed[bad],
            hits.filter(pa.array(bad)), files, FILE_COL, OFFSET_COL,
            LINE_COL))
        rows, found, scores = rows[~bad], found[~bad], scores[~bad]
    self.hit[rows] = found
    self.how[rows] = k
    self.score[rows] = scores


def count_outputs(outputs, progress: Progress):
  """Passes a merged batch's outputs on, counting them in Beam's metrics
  and the progress line (on the runner's thread: see transforms/ahead.py)."""
  for output in outputs:
    if isinstance(output, beam.pvalue.TaggedOutput) and output.tag == "stats":
      stats = output.value
      progress.add(stats["merged_rows"])
      for name, n in (("rows_merged", stats["merged_rows"]),
                      ("rows_matched", stats["matched_any"]),
                      ("conflicts", sum(stats["conflicts"].values())),
                      ("invalid_values",
                       sum(stats["invalid_values"].values())),
                      ("matches_rejected_by_confirm",
                       sum(stats["rejected_by_confirm"].values()))):
        if n:
          Metrics.counter("crmsync", name).inc(n)
    yield output


def resolve_batch(batch: RowBatch, gathered, matches, layout, spec,
                  original_keys=None):
  """The merged batch, its conflicts and stats, from what each source's
  match gave each row: `gathered[source]` holds the matched enriched values
  (null where none), `matches[source]` the SourceMatch; `original_keys`:
  column -> the batch's keys of that column, where already computed. Both
  joins end here."""
  original_keys = original_keys or {}
  table = batch.table
  n = table.num_rows
  stats = {"merged_rows": n, "matches": {}, "matched_rows": {},
           "fuzzy_matches": {}, "rejected_by_confirm": {},
           "conflicts": {}, "invalid_values": {}, "filled_before": {},
           "filled_after": {}}
  matched_any = np.zeros(n, bool)
  fuzzy = np.array([bool(k.fuzzy) for k in spec.keys] + [False])
  for name, match in matches.items():
    how = match.how
    counts = np.bincount(how[how >= 0], minlength=len(spec.keys))
    stats["matches"][name] = {spec.keys[k].name: int(c)
                              for k, c in enumerate(counts) if c}
    stats["matched_rows"][name] = int((how >= 0).sum())
    stats["fuzzy_matches"][name] = int(fuzzy[how].sum())
    stats["rejected_by_confirm"][name] = match.rejected
    matched_any |= how >= 0
  stats["matched_any"] = int(matched_any.sum())

  values, conflicts, untouched, invalid = {}, [], set(), []
  for column in layout.columns:
    if column in layout.alternates or column in MATCH_COLUMNS:
      continue
    is_original = column in spec.original_header
    candidate, source, candidate_keys = _candidate(
        column, layout, gathered, is_original, spec, batch, invalid)
    if is_original:
      original = table.column(column)
      if candidate is None:
        values[column] = original
        untouched.add(column)
        continue
      alt = next((a for a, c in layout.alternates.items() if c == column),
                 None)
      result = resolve_column(column, original, candidate, source, spec,
                              alt is not None, original_keys.get(column),
                              candidate_keys)
      values[column] = result.values
      if alt:
        values[alt] = result.alternate
      if result.conflict_rows.size:
        conflicts.append(_conflicts_batch(batch, column, original, result,
                                          spec))
        stats["conflicts"][column] = int(result.conflict_rows.size)
    else:
      values[column] = (pc.fill_null(candidate, "") if candidate is not None
                        else pa.array([""] * n, pa.string()))
  if spec.match_columns:
    values[MATCH_KEY_COL], values[MATCH_SCORE_COL] = _match_columns(
        matches, matched_any, spec)
  for column in layout.columns:
    if column in spec.original_header:
      stats["filled_before"][column] = _filled(table.column(column))
    stats["filled_after"][column] = (
        stats["filled_before"][column] if column in untouched
        else _filled(values[column]))
  for c in conflicts:
    yield beam.pvalue.TaggedOutput("conflicts", c)
  for refused in invalid:
    column = refused.column("column")[0].as_py()
    stats["invalid_values"][column] = (
        stats["invalid_values"].get(column, 0) + refused.num_rows)
    yield beam.pvalue.TaggedOutput("invalid_values", refused)
  yield beam.pvalue.TaggedOutput("stats", stats)
  arrays = [values[c] for c in layout.columns]
  arrays += [table.column(OFFSET_COL), table.column(LINE_COL)]
  yield RowBatch(batch.file_index, pa.RecordBatch.from_arrays(
      arrays, names=list(layout.columns) + [OFFSET_COL, LINE_COL]))


def _match_columns(matches, matched_any: np.ndarray, spec: MergeSpec):
  """_match_key: `source:key` of each source that matched the row, in
  priority order; _match_score: the weakest of those matches' scores (1 for
  an exact key, the similarity for the fuzzy key; empty: no match)."""
  n = len(matched_any)
  names = pa.array([k.name for k in spec.keys] + [None], pa.string())
  empty = pa.array([""] * n, pa.string())
  parts = []
  weakest = np.full(n, np.inf)
  for source, match in matches.items():
    how = match.how
    weakest = np.fmin(weakest, np.where(how >= 0, match.score, np.inf))
    key = names.take(pa.array(np.where(how >= 0, how, len(spec.keys))))
    parts.append(pc.fill_null(pc.binary_join_element_wise(
        pa.array([f"{source}:"] * n, pa.string()), key, ""), ""))
  if not parts:
    return empty, empty
  # Joined with the empty parts, then the separators around them dropped
  # (pyarrow 25's null_handling="skip" drops rows that are all null).
  joined = pc.binary_join_element_wise(*parts, "; ")
  joined = pc.replace_substring_regex(joined, "(; )+", "; ")
  joined = pc.replace_substring_regex(joined, "^; |; $", "")
  score = pc.if_else(pa.array(matched_any), "1", "")
  fuzzy = matched_any & (weakest < 1)
  if fuzzy.any():  # only fuzzy matches score below 1
    score = pc.replace_with_mask(score, pa.array(fuzzy), pa.array(
        [f"{s:.3f}" for s in weakest[fuzzy].tolist()], pa.string()))
  return joined, score


def _candidate(column, layout, gathered, with_source: bool, spec, batch,
               invalid: list):
  """The value of the highest-priority source that has a valid one, (if
  asked: conflicts need it) the name of that source per row, and the
  value's keys by the column's kind (None if it has none). Values that the
  kind rejects are appended to `invalid` as report rows and, unless
  spec.write_invalid, count as empty."""
  candidate = source = keys = None
  kind = spec.key_normalizer(column)
  for name in layout.sources.get(column, ()):
    if column not in gathered[name].column_names:
      continue  # a spread column this part of the source never needed
    value = gathered[name].column(column)
    if isinstance(value, pa.ChunkedArray):
      value = value.combine_chunks()
    if candidate is not None:  # only where no earlier source has a value
      value = pc.if_else(pc.fill_null(pc.not_equal(candidate, ""), False),
                         pa.scalar(None, pa.string()), value)
    reasons, value_keys = validity.check(value, kind, spec.phone_region)
    if reasons is not None:
      invalid.append(_invalid_batch(batch, column, name, value, reasons,
                                    gathered[name]))
      if not spec.write_invalid:
        value = pc.if_else(pc.is_valid(reasons),
                           pa.scalar(None, pa.string()), value)
    if candidate is None:
      candidate, keys = value, value_keys
      if with_source:
        has = pc.fill_null(pc.not_equal(value, ""), False)
        source = pc.if_else(has, name, pa.scalar(None, pa.string()))
      continue
    has = pc.fill_null(pc.not_equal(value, ""), False)
    use = pc.and_(pc.invert(pc.fill_null(pc.not_equal(candidate, ""),
                                         False)), has)
    candidate = pc.if_else(use, value, candidate)
    keys = (None if keys is None or value_keys is None
            else pc.if_else(use, value_keys, keys))
    if with_source:
      source = pc.if_else(use, name, source)
  return candidate, source, keys


def _where(batch, rows, column) -> list:
  """A report's first columns for `rows` of an original batch: its file,
  line and offset, and the column reported on."""
  k = len(rows)
  return [pa.array(np.full(k, batch.file_index, np.int64)),
          batch.table.column(LINE_COL).take(rows),
          batch.table.column(OFFSET_COL).take(rows),
          pa.array([column] * k, pa.string())]


def _conflicts_batch(batch, column, original, result, spec):
  rows = pa.array(result.conflict_rows)
  k = len(rows)
  strategy = spec.strategy(column)
  return pa.RecordBatch.from_arrays(_where(batch, rows, column) + [
      original.take(rows),
      result.candidate.take(rows),
      result.candidate_source.take(rows),
      pa.array([strategy] * k, pa.string()),
      pa.array([resolution(strategy)] * k, pa.string()),
  ], names=list(CONFLICT_COLUMNS))


def _invalid_batch(batch, column, source, value, reasons, enriched):
  """Report rows for the values of `source` in `column` that `reasons`
  rejects: the original row, the value, and the enriched row it came
  from."""
  rows = pc.indices_nonzero(pc.is_valid(reasons))
  return pa.RecordBatch.from_arrays(_where(batch, rows, column) + [
      value.take(rows),
      pa.array([source] * len(rows), pa.string()),
      pc.cast(enriched.column(FILE_COL).take(rows),
              pa.int64()).combine_chunks(),
      pc.cast(enriched.column(LINE_COL).take(rows),
              pa.int64()).combine_chunks(),
      reasons.take(rows),
  ], names=list(INVALID_COLUMNS))


def _filled(values) -> int:
  return pc.sum(pc.not_equal(values, "")).as_py() or 0


class Merge(beam.PTransform):
  """Joins original RowBatches with the enriched indexes.

  Input: original RowBatch PCollection; `indexes`: a PCollection of
  EnrichedIndex (one per source). Output tags: `merged` (RowBatch),
  `conflicts`, `invalid_values` and `rejected_matches` (Arrow batches),
  `hits`, `stats`.
  """

  def __init__(self, spec: MergeSpec, source_order: Sequence[str], indexes):
    super().__init__()
    self._spec = spec
    self._order = tuple(source_order)
    self._indexes = indexes

  def expand(self, rows):
    return rows | beam.ParDo(
        MergeBatches(self._spec, self._order),
        beam.pvalue.AsList(self._indexes)).with_outputs(
            "conflicts", "invalid_values", "rejected_matches", "hits",
            "stats", main="merged")
