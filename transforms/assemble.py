"""One merged batch from what each source's cascade gave its rows.

Both joins end here (`resolve_batch`): the candidate value of each output
column (the highest-priority source with a valid value), the conflict
strategies, the _match_key and _match_score columns, and the report rows
for conflicts and refused values, as Arrow batches.
"""

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crmsync.transforms import validity
from crmsync.transforms.changes import changes_batches
from crmsync.transforms.html_report import score_bins
from crmsync.transforms.columns import FILE_COL, LINE_COL, OFFSET_COL
from crmsync.transforms.resolve import (MATCH_COLUMNS, MATCH_DETAIL_COL,
                                        MATCH_KEY_COL, MATCH_SCORE_COL, resolution,
                                        resolve_column)
from crmsync.transforms.rows import RowBatch, append_part, contiguous
from crmsync.transforms.spec import MergeSpec

CONFLICT_COLUMNS = ("file_index", "line", "offset", "column", "original",
                    "enriched", "source", "strategy", "resolution")
INVALID_COLUMNS = ("file_index", "line", "offset", "column", "value",
                   "source", "source_file", "source_line", "reason")


def resolve_batch(batch: RowBatch, gathered, matches, layout, spec,
                  original_keys=None):
  """The merged batch, its report rows (conflicts, refused values and
  rejected matches: one Arrow batch each, where there are any) and its
  stats, from what each source's match gave each row. `gathered[source]`
  holds the matched enriched values (null where none), `matches[source]`
  the SourceMatch; `original_keys`: column -> the batch's keys of that
  column, where already computed. Both joins end here.

  Stats (a dict of counts; reports.SumStats adds them up): merged_rows,
  matched_any, and per source matches (key -> rows), matched_rows,
  fuzzy_matches, rejected_by_confirm, refused_by_assignment; match_scores
  (html_report.score_bins of each matched row's weakest score); per column conflicts,
  invalid_values, filled_before, filled_after."""
  original_keys = original_keys or {}
  table = batch.table
  n = table.num_rows
  stats = {"merged_rows": n, "matches": {}, "matched_rows": {},
           "fuzzy_matches": {}, "rejected_by_confirm": {},
           "refused_by_assignment": {},
           "conflicts": {}, "invalid_values": {}, "filled_before": {},
           "filled_after": {}}
  matched_any = np.zeros(n, bool)
  weakest = np.full(n, np.inf)
  fuzzy = np.array([bool(k.fuzzy) for k in spec.keys] + [False])
  for name, match in matches.items():
    how = match.how
    counts = np.bincount(how[how >= 0], minlength=len(spec.keys))
    stats["matches"][name] = {spec.keys[k].name: int(c)
                              for k, c in enumerate(counts) if c}
    stats["matched_rows"][name] = int((how >= 0).sum())
    stats["fuzzy_matches"][name] = int(fuzzy[how].sum())
    stats["rejected_by_confirm"][name] = match.rejected
    stats["refused_by_assignment"][name] = match.refused
    matched_any |= how >= 0
    weakest = np.fmin(weakest, np.where(how >= 0, match.score, np.inf))
  stats["matched_any"] = int(matched_any.sum())
  # The histogram of report.html: bin -> matched rows.
  stats["match_scores"] = {i: c for i, c in enumerate(score_bins(
      np.where(np.isinf(weakest), np.nan, weakest))) if c}

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
        matches, matched_any, weakest, spec)
    if spec.scoring:
      values[MATCH_DETAIL_COL] = _match_detail(matches, n)
  for column in layout.columns:
    if column in spec.original_header:
      stats["filled_before"][column] = _filled(table.column(column))
    stats["filled_after"][column] = (
        stats["filled_before"][column] if column in untouched
        else _filled(values[column]))
  for refused in invalid:
    column = refused.column("column")[0].as_py()
    stats["invalid_values"][column] = (
        stats["invalid_values"].get(column, 0) + refused.num_rows)
  # One batch per report and original batch: the reports are written in
  # parts, one per original batch (transforms/report_parts.py).
  rejected = [b for m in matches.values() for b in m.rejected_batches]
  review = [b for m in matches.values() for b in m.review_batches]
  for tag, batches in (("conflicts", conflicts), ("invalid_values", invalid),
                       ("rejected_matches", rejected), ("review", review)):
    if batches:
      yield beam.pvalue.TaggedOutput(tag, pa.concat_batches(batches))
  if spec.changes_ids:
    changed, undo, stats["changes"] = changes_batches(
        batch, values, layout.columns, spec)
    if changed is not None:
      yield beam.pvalue.TaggedOutput("changes", changed)
      yield beam.pvalue.TaggedOutput("undo", undo)
  yield beam.pvalue.TaggedOutput("stats", stats)
  arrays = [values[c] for c in layout.columns]
  arrays += [table.column(OFFSET_COL), table.column(LINE_COL)]
  yield RowBatch(batch.file_index, pa.RecordBatch.from_arrays(
      arrays, names=list(layout.columns) + [OFFSET_COL, LINE_COL]))


def _match_detail(matches, n: int) -> pa.Array:
  """_match_detail, with scoring: per source that matched the row, in
  priority order, `source: ` and each compared column's level and weight."""
  out = pa.repeat(pa.scalar("", pa.string()), n)
  for source, match in matches.items():
    if match.detail is not None:
      out = append_part(out, pc.binary_join_element_wise(
          f"{source}: ", match.detail, ""), " | ")
  return out


def _match_columns(matches, matched_any: np.ndarray, weakest: np.ndarray,
                   spec: MergeSpec):
  """_match_key: `source:key` of each source that matched the row, in
  priority order; _match_score: `weakest`, the weakest of those matches'
  scores (with scoring, the match probability; without, 1 for an exact
  key and the similarity for the fuzzy key; empty: no match)."""
  n = len(matched_any)
  names = pa.array([k.name for k in spec.keys] + [None], pa.string())
  joined = pa.repeat(pa.scalar("", pa.string()), n)
  for source, match in matches.items():
    how = match.how
    key = names.take(pa.array(np.where(how >= 0, how, len(spec.keys))))
    joined = append_part(joined, pc.binary_join_element_wise(
        f"{source}:", key, ""), "; ")
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
    value = contiguous(value)
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
