"""Confirming a key's hits: `confirm: [First, Last]` on a key.

An exact key can join two people: a shared inbox (info@acme.com) or a
switchboard number. A hit whose confirming columns clearly belong to
different people (score below CLEARLY_DIFFERENT, with the scoring of
transforms/similarity.py: "John" and "Mary" score 0, "Jon" and "Jonathan" 1)
is rejected; the row goes on down the cascade, and the pair is listed in
rejected_matches.csv with both rows. Blank confirming values confirm
nothing and reject nothing.
"""

import json

import numpy as np
import pyarrow as pa

from crmsync.transforms.similarity import prepare, row_scores
from crmsync.transforms.spec import MatchKey

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


def rejected(key: MatchKey, region: str, original: pa.Table,
             rows: np.ndarray, enriched: pa.Table):
  """Which hits the confirming columns reject (a mask over `rows`), and
  their confirm scores."""
  if not key.confirm or not len(rows):
    return np.zeros(len(rows), bool), np.full(len(rows), np.nan)
  scores = confirm_scores(key, region, original, rows, enriched)
  return np.nan_to_num(scores, nan=1.0) < CLEARLY_DIFFERENT, scores


def rejected_batch(batch, rows: np.ndarray, source: str, key: MatchKey,
                   scores: np.ndarray, enriched: pa.Table, enriched_files,
                   file_col: str, offset_col: str,
                   line_col: str) -> pa.RecordBatch:
  """The report rows for rejected hits: both rows' key and confirming
  values, and the confirm score. `enriched`: the hit rows (aligned with
  `rows`), with their file rank and line."""
  table = batch.table
  take = pa.array(rows, pa.int64())
  shown = key.needed_columns
  mine = table.select(list(shown)).take(take).to_pylist()
  theirs = enriched.select(list(shown)).to_pylist()
  return pa.RecordBatch.from_arrays([
      pa.array(np.full(len(rows), batch.file_index, np.int64)),
      _array(table.column(offset_col).take(take)),
      _array(table.column(line_col).take(take)),
      pa.array([source] * len(rows), pa.string()),
      pa.array([key.name] * len(rows), pa.string()),
      pa.array([f"{s:.3f}" for s in np.nan_to_num(scores)], pa.string()),
      pa.array([json.dumps(r, ensure_ascii=False) for r in mine]),
      pa.array([enriched_files[i] for i in
                enriched.column(file_col).to_pylist()], pa.string()),
      _array(enriched.column(line_col)),
      pa.array([json.dumps(r, ensure_ascii=False) for r in theirs]),
  ], names=list(REJECTED_COLUMNS))


def _array(values):
  return (values.combine_chunks() if isinstance(values, pa.ChunkedArray)
          else values)
