"""Deciding what is written: duplicates, output columns, conflicts.

- Several enriched rows share a key value: `duplicates` picks or combines
  them into one row (first, last, most_complete, join, spread).
- The output layout: original columns first and unchanged in order, then
  alternates and new columns by `columns.placement`.
- A column that both sides fill: the enriched candidate is the value of the
  highest-priority source that matched and has one; the conflict strategy
  decides between it and a non-empty original value that differs.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crmsync.transforms import normalizers
from crmsync.transforms.rows import contiguous
from crmsync.transforms.spec import MergeSpec


@dataclass
class Duplicates:
  """One synthesised row per group of rows that share a key value."""
  table: pa.Table  # appended after the source's own rows
  spread_columns: List[str]
  choice: Dict[str, Dict[str, int]]  # key -> value -> row in the index
  members: Dict[int, List[int]]  # synthesised row -> the rows it stands for
  widths: Dict[str, int]  # spread: column -> most values in one group (>1)


def spread_columns(columns: Sequence[str], widths: Dict[str, int]):
  """The columns `duplicates: spread` adds after `columns`: Title_2,
  Title_3 ... for a column whose widest group holds that many values."""
  return [f"{c}_{i}" for c in columns for i in range(2, widths.get(c, 1) + 1)]


def _nonempty_counts(table: pa.Table, n: int) -> np.ndarray:
  counts = np.zeros(n, np.int64)
  for c in table.columns:
    counts += pc.not_equal(c, "").to_numpy(zero_copy_only=False)
  return counts


def _distinct(values):
  seen = []
  for v in values:
    if v and v not in seen:
      seen.append(v)
  return seen


def resolve_duplicates(written: pa.Table, internal: pa.Table, groups,
                       spec: MergeSpec) -> Duplicates:
  """`written`: the source's kept columns (possibly none), `internal` its
  bookkeeping and key columns, row for row; `groups`: key -> value -> the
  rows sharing it. Synthesised rows are numbered after the source's own."""
  n = internal.num_rows  # `written` has no rows to count if it keeps nothing
  columns = written.column_names
  how = spec.duplicates
  complete = _nonempty_counts(written, n) if how == "most_complete" else None
  picked: List[int] = []  # the row each synthesised row copies
  combined: List[Dict[str, List[str]]] = []  # join/spread: distinct values
  choice, members = {}, {}
  for key, key_groups in groups.items():
    chosen = choice.setdefault(key, {})
    for value, rows in key_groups.items():
      ext_row = n + len(picked)
      chosen[value] = ext_row
      members[ext_row] = rows
      if how == "last":
        picked.append(rows[-1])
      elif how == "most_complete":
        counts = complete[rows]
        picked.append(rows[int(np.argmax(counts))])
      else:
        picked.append(rows[0])
      if how in ("join", "spread"):
        part = written.take(rows).to_pydict()
        combined.append({c: _distinct(part[c]) for c in columns})
  widths = {}
  if how == "spread":
    widths = {c: w for c in columns
              if (w := max([len(d[c]) for d in combined] + [1])) > 1}
  idx = pa.array(picked, pa.int64())
  table = internal.take(idx)
  for c in columns:
    if how == "join":
      values = pa.array([spec.duplicate_separator.join(d[c])
                         for d in combined], pa.string())
    elif how == "spread":
      values = pa.array([(d[c] or [""])[0] for d in combined], pa.string())
    else:
      values = written[c].take(idx)
    table = table.append_column(c, values)
  for c in columns:
    for i in range(2, widths.get(c, 1) + 1):
      table = table.append_column(f"{c}_{i}", pa.array(
          [d[c][i - 1] if len(d[c]) >= i else "" for d in combined],
          pa.string()))
  return Duplicates(table, spread_columns(columns, widths), choice, members,
                    widths)


@dataclass(frozen=True)
class Layout:
  """The output columns and where each one's value comes from."""
  columns: Tuple[str, ...]
  sources: Dict[str, Tuple[str, ...]]  # supplied column -> sources, priority
  alternates: Dict[str, str] = field(default_factory=dict)  # alt -> column


MATCH_KEY_COL, MATCH_SCORE_COL = ("_match_key", "_match_score")
MATCH_DETAIL_COL = "_match_detail"  # with scoring
MATCH_COLUMNS = (MATCH_KEY_COL, MATCH_SCORE_COL, MATCH_DETAIL_COL)


def output_layout(spec: MergeSpec, supplied) -> Layout:
  """`supplied`: (source name, its output columns) in priority order. The
  joins call it through transforms/join.py (`join_layout`)."""
  original = list(spec.original_header)
  sources: Dict[str, List[str]] = {}
  for name, cols in supplied:
    for c in cols:
      sources.setdefault(c, []).append(name)
  alternates = {
      f"{c}{spec.alternate_suffix}": c for c in original
      if c in sources and spec.strategy(c) == "create_alternate"}
  new = [c for c in sources if c not in original and c not in alternates]
  if spec.placement == "explicit":
    columns = list(spec.order)
  elif spec.placement == "next_to_related":
    columns = []
    placed = set()
    for c in original:
      columns.append(c)
      related = [a for a, of in alternates.items() if of == c] + [
          n for n in new if n not in placed and _related(n, c)]
      columns += related
      placed.update(related)
    columns += [c for c in list(alternates) + new if c not in placed]
  else:
    columns = original + list(alternates) + new
  if spec.match_columns:
    shown = MATCH_COLUMNS if spec.scoring else MATCH_COLUMNS[:2]
    columns += [c for c in shown if c not in columns]
  return Layout(tuple(columns), {c: tuple(s) for c, s in sources.items()},
                alternates)


def _related(new: str, original: str) -> bool:
  """Email_Verified relates to Email; "Phone Type" to Phone."""
  n, o = new.lower(), original.lower()
  return n.startswith(o) and len(n) > len(o) and not n[len(o)].isalnum()


def _comparable(values: pa.Array, normalizer: str, region: str,
                keys: pa.Array = None) -> pa.Array:
  """`keys`: the values' keys by `normalizer`, if the caller has them."""
  values = contiguous(values)
  keys = contiguous(keys if keys is not None else normalizers.get(
      normalizer)(values, phone_region=region))
  # Plain text where the kind's normalizer gives no key: for those rows only.
  missing = pc.is_null(keys)
  if keys.null_count:
    keys = pc.replace_with_mask(keys, missing, normalizers.get("text")(
        values.filter(missing)))
  return pc.fill_null(keys, "")


@dataclass
class ColumnResult:
  values: pa.Array
  alternate: pa.Array = None
  conflict_rows: np.ndarray = None  # rows where both differ
  candidate: pa.Array = None
  candidate_source: pa.Array = None


def resolve_column(column: str, original: pa.Array, candidate: pa.Array,
                   candidate_source: pa.Array, spec: MergeSpec,
                   has_alternate: bool, original_keys: pa.Array = None,
                   candidate_keys: pa.Array = None) -> ColumnResult:
  """The written value of an original column that a source also supplies.
  `original_keys`, `candidate_keys`: the values' keys by the column's
  normalizer, where the caller has them already."""
  has = pc.fill_null(pc.not_equal(candidate, ""), False)
  empty = pc.equal(original, "")
  fill = pc.and_(empty, has)
  both = pc.and_(pc.invert(empty), has)
  strategy = spec.strategy(column)
  differ = np.zeros(len(original), bool)
  rows = pc.indices_nonzero(both)
  if len(rows):
    # Only rows where both sides have a value can conflict: normalise those.
    norm = spec.key_normalizer(column)
    keys = [None if k is None else k.take(rows)
            for k in (original_keys, candidate_keys)]
    differ[rows.to_numpy()] = pc.not_equal(
        _comparable(original.take(rows), norm, spec.phone_region, keys[0]),
        _comparable(candidate.take(rows), norm, spec.phone_region, keys[1])
    ).to_numpy(zero_copy_only=False)
  differ = pa.array(differ)
  take_candidate = pc.or_(fill, differ) if strategy == "replace" else fill
  values = pc.if_else(take_candidate, candidate, original)
  result = ColumnResult(values, candidate=candidate,
                        candidate_source=candidate_source)
  result.conflict_rows = np.flatnonzero(differ.to_numpy(
      zero_copy_only=False))
  if has_alternate:
    result.alternate = pc.if_else(differ, candidate, "")
  return result


def resolution(strategy: str) -> str:
  """How a conflict was settled, for conflicts.csv."""
  return {
      "keep_original": "kept original",
      "fill_empty": "kept original",
      "replace": "replaced with enriched",
      "create_alternate": "enriched written to alternate column",
      "manual_review": "kept original; needs review",
  }[strategy]
