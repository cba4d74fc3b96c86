"""The contract both joins keep, and what they share.

`BroadcastMerge` (transforms/broadcast.py) and `PartitionedMerge`
(transforms/partitioned.py) are PTransforms with one signature,
`original_rows | Join(spec, sources, ...)`, where `sources` are JoinSource
in priority order, and one result, a JoinResult of PCollections:

    merged            RowBatch, the original rows with the merged columns
    conflicts         Arrow batches, assemble.CONFLICT_COLUMNS
    invalid_values    Arrow batches, assemble.INVALID_COLUMNS
    rejected_matches  Arrow batches (confirm.rejected_batch)
    stats             a dict of counts per merged batch (its keys:
                      assemble.resolve_batch; reports.SumStats sums them)
    accounts          one EnrichedAccount per source
    header            one list: the output columns, in order

The output layout comes from one rule (`join_layout`) over what each index
or partition supplied (`Supplied`), and the accounts from one function
(`account`) over the rows each source owns and the rows its matches used.
"""

from typing import Dict, Iterable, List, NamedTuple, Sequence, Tuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows

from crmsync.transforms import confirm
from crmsync.transforms.columns import FILE_COL, ID_COL, LINE_COL, OFFSET_COL
from crmsync.transforms.comparisons import compared_columns
from crmsync.transforms.hashing import in_sorted, sorted_unique
from crmsync.transforms.progress import Progress
from crmsync.transforms.matching import batch_identities
from crmsync.transforms.resolve import Layout, output_layout, spread_columns
from crmsync.transforms.review import review_batch
from crmsync.transforms.rows import RowBatch
from crmsync.transforms.spec import EnrichedSpec, MergeSpec


def require_global_window(rows: beam.PCollection, join: str) -> None:
  """A join's inputs are whole files, in Beam's global window: its indexes
  and shuffles pair rows across the whole input. Windowed original rows
  would meet no enriched row; refused with a ValueError rather than
  merged wrongly."""
  if not isinstance(rows.windowing.windowfn, GlobalWindows):
    raise ValueError(f"{join}: the original rows are windowed "
                     f"({type(rows.windowing.windowfn).__name__}); a join "
                     f"takes them in the global window (apply it before "
                     f"beam.WindowInto)")


class JoinSource(NamedTuple):
  """One enriched source as a join takes it: its spec, its header as read
  (ReadCsv.header), its files (ReadCsv.files, for the reports) and its
  RowBatch PCollection (ReadCsv(...).rows)."""
  spec: EnrichedSpec
  header: Tuple[str, ...]
  files: List[str]
  rows: beam.PCollection

  @property
  def mapped_header(self) -> Tuple[str, ...]:
    return tuple(self.spec.rename.get(c, c) for c in self.header)


class JoinResult(NamedTuple):
  """What a join gives (see the module docstring for each element)."""
  merged: beam.PCollection
  conflicts: beam.PCollection
  invalid_values: beam.PCollection
  rejected_matches: beam.PCollection
  stats: beam.PCollection
  accounts: beam.PCollection
  header: beam.PCollection
  # Each source's model as match_weights.json shows it (none: no scoring).
  models: beam.PCollection
  review: beam.PCollection  # Arrow batches (review.review_batch)
  # With output.changes: RowBatches of the changes and undo files.
  changes: beam.PCollection = None
  undo: beam.PCollection = None
  # original_duplicates.BatchKeyValues: each original batch's
  # identifying keys.
  key_values: beam.PCollection = None


class Supplied(NamedTuple):
  """What an index (or a partition's index) of `source` adds to its kept
  columns: for `duplicates: spread`, the widest group of each column
  (`widths`: column -> number of values, 2 or more)."""
  source: str
  widths: Dict[str, int]


def join_layout(spec: MergeSpec, kept: Sequence[Tuple[str, Sequence[str]]],
                supplied: Iterable[Supplied]) -> Layout:
  """The output layout. `kept`: (source, its kept columns) in priority
  order; each source supplies those, then its spread columns as wide as
  its widest group in any index, placed by resolve.output_layout."""
  widths: Dict[str, Dict[str, int]] = {}
  for source, source_widths in supplied:  # Supplied, or a plain tuple
    known = widths.setdefault(source, {})
    for column, width in source_widths.items():
      known[column] = max(known.get(column, 1), width)
  return output_layout(spec, [
      (name, list(keep) + spread_columns(keep, widths.get(name, {})))
      for name, keep in kept])


class SourceBooks(NamedTuple):
  """How many of one enriched source's rows were read, used and unmatched:
  what stats.json's accounting needs of an EnrichedAccount."""
  source: str
  files: List[str]
  rows_read: int
  rows_used: int
  rows_unmatched: int


class EnrichedAccount(NamedTuple):
  """What became of one enriched source's rows, whichever join ran."""
  source: str
  files: List[str]
  rows_read: int
  rows_used: int
  unmatched: pa.Table  # FILE_COL, LINE_COL and the row's values, file order

  def books(self) -> SourceBooks:
    return SourceBooks(self.source, self.files, self.rows_read,
                       self.rows_used, self.unmatched.num_rows)


def account(source: str, files: List[str], owned: Iterable[pa.Table],
            used: Iterable[np.ndarray]) -> EnrichedAccount:
  """A source's account. `owned`: tables of the source's rows as the
  reports list them (EnrichedIndex.rows) with their identity in ID_COL,
  every row in exactly one table (read one at a time: only unused rows are
  kept); `used`: arrays of the identities of rows a match used."""
  used = list(used)
  ids = sorted_unique(np.concatenate(used)) if used else np.array(
      [], np.int64)
  read = used_count = 0
  unmatched = []
  for rows in owned:
    is_used = in_sorted(rows.column(ID_COL).to_numpy(), ids)
    read, used_count = read + rows.num_rows, used_count + int(is_used.sum())
    unmatched.append(rows.filter(pa.array(~is_used)).drop_columns([ID_COL]))
  if not unmatched:
    unmatched = [pa.table({FILE_COL: pa.array([], pa.int64()),
                           LINE_COL: pa.array([], pa.int64())})]
  return EnrichedAccount(source, files, read, used_count,
                         pa.concat_tables(unmatched))


class SourceMatch:
  """What one source's cascade gave each row of a batch: the row of the
  source that matched (`hit`), the cascade position of the key (`how`, -1:
  none) and the score (1 for an exact key). Both joins fill it."""

  def __init__(self, n: int):
    self.hit = np.full(n, -1, np.int64)
    self.how = np.full(n, -1, np.int64)
    self.score = np.full(n, np.nan)
    self.rejected = 0
    self.refused = 0  # hits the cascade's assignment refused (claims.py)
    self.rejected_batches: List[pa.RecordBatch] = []  # rejected_matches rows
    self.review_batches: List[pa.RecordBatch] = []  # review.csv rows
    # With scoring: each row's match's evidence, null if none (_match_detail).
    self.detail = None

  def accept(self, batch: RowBatch, k: int, key, rows, found, scores,
             hits: pa.Table, source: str, files, spec: MergeSpec,
             allowed=None) -> None:
    """Takes the hits of key `k` for rows no earlier key matched, unless
    the key's confirming columns or checked names reject them (kept in
    rejected_batches for the report, and the row stays free for the next
    key), or `allowed` (found -> a mask: the cascade's assignment,
    transforms/claims.py) refuses them. `hits`: the source's rows that hit
    (with FILE_COL, LINE_COL and confirm.evidence_columns), aligned with
    `rows`; None: not checked."""
    free = self.how[rows] < 0
    rows, found, scores = rows[free], found[free], scores[free]
    if hits is not None and rows.size:
      hits = hits.filter(pa.array(free))
      bad, confirmed = confirm.rejected(key, spec, batch.table, rows, hits)
      if bad.any():
        self.rejected += int(bad.sum())
        self.rejected_batches.append(confirm.rejected_batch(
            batch, rows[bad], source, key, confirmed[bad],
            hits.filter(pa.array(bad)), files, FILE_COL, OFFSET_COL,
            LINE_COL, tuple(c for c in hits.column_names
                            if c not in (FILE_COL, LINE_COL))))
        rows, found, scores = rows[~bad], found[~bad], scores[~bad]
    if allowed is not None and rows.size:
      ok = allowed(found)
      self.refused += int((~ok).sum())
      rows, found, scores = rows[ok], found[ok], scores[ok]
    self.hit[rows] = found
    self.how[rows] = k
    self.score[rows] = scores


  def take_decisions(self, batch: RowBatch, decided, index,
                     spec: MergeSpec) -> None:
    """Takes the scoring model's decisions (assignment.SourceDecisions)
    for this batch's rows; confirm-key pairs it put below the threshold go
    to rejected_batches."""
    ids = batch_identities(batch)
    at, pair = decided.matches.of(ids)
    chosen = decided.matches
    self.hit[at] = index.rows_of(chosen.vendor[pair])
    self.how[at] = chosen.keys[pair]
    self.score[at] = chosen.probability[pair]
    if chosen.levels is not None and spec.match_columns:
      evidence = chosen.take(pair).evidence(decided.model)
      where = np.full(batch.num_rows, -1, np.int64)
      where[at] = np.arange(at.size)
      self.detail = evidence.take(pa.array(where, mask=where < 0))
    rows, pair = decided.review.all_of(ids)
    if rows.size:
      review = decided.review.take(pair)
      self.review_batches.append(review_batch(
          batch, rows, index.name, [k.name for k in spec.keys], review,
          review.evidence(decided.model),
          [c.column for c in compared_columns(spec)],
          index.table.take(pa.array(index.rows_of(review.vendor))),
          index.files))
    rows, pair = decided.below.all_of(ids)
    below = decided.below
    self.rejected += int(rows.size)
    for k in np.unique(below.keys[pair]).tolist():
      of_key = below.keys[pair] == k
      hits = index.table.take(pa.array(index.rows_of(
          below.vendor[pair][of_key])))
      self.rejected_batches.append(confirm.rejected_batch(
          batch, rows[of_key], index.name, spec.keys[k],
          below.probability[pair][of_key], hits, index.files, FILE_COL,
          OFFSET_COL, LINE_COL))


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
                       sum(stats["rejected_by_confirm"].values())),
                      ("matches_refused_by_assignment",
                       sum(stats["refused_by_assignment"].values()))):
        if n:
          Metrics.counter("crmsync", name).inc(n)
    yield output
