"""Confirming a key's hits in the cascade (without scoring).

An exact key can join two people: a shared inbox (info@acme.com) or a
switchboard number.
- `confirm: [First, Last]` on a key: a hit whose confirming columns clearly
  belong to different people (score below CLEARLY_DIFFERENT, with the
  scoring of transforms/similarity.py: "John" and "Mary" score 0, "Jon" and
  "Jonathan" 1) is rejected.
- An exact key without `confirm` is checked against the names other keys
  read (a name + ZIP key's First and Last), where both files carry them: a
  hit whose names all clearly differ (comparison level "else" or below:
  not a nickname, prefix, initial or typo of each other) is rejected.
The row goes on down the cascade, and the pair is listed in
rejected_matches.csv with both rows. Blank values confirm nothing and
reject nothing.
"""

import json
from typing import List, Sequence, Tuple

import numpy as np
import pyarrow as pa

from crmsync.transforms.comparisons import (NULL, Comparison,
                                            compared_columns, levels,
                                            prepared)
from crmsync.transforms.rows import contiguous
from crmsync.transforms.similarity import prepare, row_scores
from crmsync.transforms.spec import MatchKey, MergeSpec

CLEARLY_DIFFERENT = 0.5
REJECTED_COLUMNS = ("file_index", "offset", "line", "source", "key", "score",
                    "original", "enriched_file", "enriched_line", "enriched")


def confirm_scores(key: MatchKey, region: str, original: pa.Table,
                   rows: np.ndarray, enriched: pa.Table) -> np.ndarray:
  """The confirm score of original rows `rows` against the enriched rows
  (aligned with them) that hit; NaN where nothing could be compared."""
  take = pa.array(rows, pa.int64())
  left = [prepare(original.column(c).take(take), kind, region)
          for c, kind in zip(key.confirm, key.confirm_normalizers)]
  right = [prepare(enriched.column(c), kind, region)
           for c, kind in zip(key.confirm, key.confirm_normalizers)]
  return row_scores(left, right, key.confirm_normalizers, min_columns=1)


def checked_names(spec: MergeSpec, key: MatchKey) -> Tuple[Comparison, ...]:
  """The name comparisons an exact key without `confirm` is checked
  against in the cascade: the name columns other keys name."""
  if spec.scoring or key.fuzzy or key.confirm:
    return ()
  return tuple(c for c in compared_columns(spec)
               if c.kind == "name" and c.column not in key.columns)


def evidence_columns(spec: MergeSpec, key: MatchKey,
                     available: Sequence[str]) -> List[str]:
  """The columns among `available` (a source's) that a key's hits are
  checked on, on both sides; none: its hits are not checked there."""
  if key.confirm:
    columns = key.needed_columns
  else:
    names = tuple(c.column for c in checked_names(spec, key)
                  if c.column in available)
    columns = key.columns + names if names else ()
  return [c for c in columns if c in available]


def rejected(key: MatchKey, spec: MergeSpec, original: pa.Table,
             rows: np.ndarray, enriched: pa.Table):
  """Which hits the confirming columns or the checked names reject (a mask
  over `rows`), and their confirm scores (0 for names that differ)."""
  none = np.zeros(len(rows), bool), np.full(len(rows), np.nan)
  if not len(rows):
    return none
  if key.confirm:
    scores = confirm_scores(key, spec.phone_region, original, rows,
                            enriched)
    return np.nan_to_num(scores, nan=1.0) < CLEARLY_DIFFERENT, scores
  names = [c for c in checked_names(spec, key)
           if c.column in enriched.column_names]
  if not names:
    return none
  bad = names_differ(names, spec.phone_region, original, rows, enriched)
  return bad, np.where(bad, 0.0, np.nan)


def names_differ(names, region: str, original: pa.Table, rows: np.ndarray,
                 enriched: pa.Table) -> np.ndarray:
  """Per hit: every name both rows fill clearly differs (at least one
  does), straight and, with two names, crosswise (vendors swap first and
  last names)."""
  take = pa.array(rows, pa.int64())
  mine = [prepared(original.column(c.column).take(take), c, region)
          for c in names]
  theirs = [prepared(enriched.column(c.column), c, region) for c in names]
  found = np.vstack([levels(c, a, b) for c, a, b in zip(names, mine,
                                                          theirs)])
  worst = np.array([[c.else_level] for c in names])
  filled = found != NULL
  differ = filled.any(axis=0) & ((found <= worst) | ~filled).all(axis=0)
  if len(names) == 2 and differ.any():
    plain = Comparison(names[0].column, "name")  # letters only, crosswise
    ab = levels(plain, mine[0], theirs[1])
    ba = levels(plain, mine[1], theirs[0])
    differ &= ~(((ab > 0) | (ab == NULL)) & ((ba > 0) | (ba == NULL)) &
                ((ab > 0) | (ba > 0)))
  return differ


def rejected_batch(batch, rows: np.ndarray, source: str, key: MatchKey,
                   scores: np.ndarray, enriched: pa.Table, enriched_files,
                   file_col: str, offset_col: str, line_col: str,
                   shown: Tuple[str, ...] = ()) -> pa.RecordBatch:
  """The report rows for rejected hits: both rows' `shown` columns (by
  default the key's and its confirming columns), and the confirm score.
  `enriched`: the hit rows (aligned with `rows`), with their file rank and
  line."""
  table = batch.table
  take = pa.array(rows, pa.int64())
  shown = tuple(c for c in shown or key.needed_columns
                if c in table.column_names and c in enriched.column_names)
  mine = table.select(list(shown)).take(take).to_pylist()
  theirs = enriched.select(list(shown)).to_pylist()
  return pa.RecordBatch.from_arrays([
      pa.array(np.full(len(rows), batch.file_index, np.int64)),
      contiguous(table.column(offset_col).take(take)),
      contiguous(table.column(line_col).take(take)),
      pa.array([source] * len(rows), pa.string()),
      pa.array([key.name] * len(rows), pa.string()),
      pa.array([f"{s:.3f}" for s in np.nan_to_num(scores)], pa.string()),
      pa.array([json.dumps(r, ensure_ascii=False) for r in mine]),
      pa.array([enriched_files[i] for i in
                enriched.column(file_col).to_pylist()], pa.string()),
      contiguous(enriched.column(line_col)),
      pa.array([json.dumps(r, ensure_ascii=False) for r in theirs]),
  ], names=list(REJECTED_COLUMNS))

