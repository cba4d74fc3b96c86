"""Clerical review: the pairs the model is unsure of, with both rows and
the evidence, for a person to decide; and reading their decisions back.

review.csv lists, per original row, the candidate pairs whose match
probability lies between `match.review_threshold` and `match.threshold`,
with both rows' compared values, each column's comparison level and weight,
and an empty `decision` column. Fill it with `match` or `no-match`, and pass
the file as `match.decisions`: the next run takes those pairs as decided
(a match, whatever its score; never a match), and lists them no more.
Pairs are named by the original's file and line and the vendor's file and
line, as every report names rows.
"""

import csv
import json
from typing import Dict, List, Sequence, Tuple

import numpy as np
import pyarrow as pa

from crmsync.transforms.columns import FILE_COL, LINE_COL, OFFSET_COL
from crmsync.transforms.errors import ConfigError
from crmsync.transforms.rows import RowBatch

REVIEW_COLUMNS = ("file_index", "offset", "line", "source", "key",
                  "match_probability", "match_weight", "evidence",
                  "original", "enriched_file", "enriched_line", "enriched")
DECISIONS = {"match": True, "no-match": False}


def review_batch(batch: RowBatch, rows: np.ndarray, source: str,
                 key_names: Sequence[str], pairs, evidence: pa.Array,
                 columns: Sequence[str], hits: pa.Table,
                 enriched_files) -> pa.RecordBatch:
  """review.csv rows for pairs (assignment.Pairs, aligned with `rows`, the
  original rows) of one source, with their `evidence` (Pairs.evidence):
  both rows' compared `columns`; `hits`: the vendor rows (aligned), with
  their file rank and line."""
  table = batch.table
  take = pa.array(rows, pa.int64())
  mine = table.select([c for c in columns if c in table.column_names]
                      ).take(take).to_pylist()
  theirs = hits.select([c for c in columns if c in hits.column_names]
                       ).to_pylist()
  return pa.RecordBatch.from_arrays([
      pa.array(np.full(len(rows), batch.file_index, np.int64)),
      pa.array(table.column(OFFSET_COL).take(take).to_pylist(), pa.int64()),
      pa.array(table.column(LINE_COL).take(take).to_pylist(), pa.int64()),
      pa.array([source] * len(rows), pa.string()),
      pa.array([key_names[k] for k in pairs.keys.tolist()], pa.string()),
      pa.array([f"{p:.3f}" for p in pairs.probability.tolist()]),
      pa.array([f"{w:.2f}" for w in pairs.weight.tolist()]),
      evidence,
      pa.array([json.dumps(r, ensure_ascii=False) for r in mine]),
      pa.array([enriched_files[i] for i in
                hits.column(FILE_COL).to_pylist()], pa.string()),
      pa.array(hits.column(LINE_COL).to_pylist(), pa.int64()),
      pa.array([json.dumps(r, ensure_ascii=False) for r in theirs]),
  ], names=list(REVIEW_COLUMNS))


def read_decisions(path: str, original_files: List[str],
                   source_files: Dict[str, List[str]]
                   ) -> Tuple[Tuple[int, int, str, int, int, bool], ...]:
  """A decisions file (review.csv with its `decision` column filled) ->
  MergeSpec.decisions. Rows with an empty decision are skipped; anything
  else is a ConfigError naming the file, line and value."""
  rank = {f: i for i, f in enumerate(original_files)}
  out = []
  try:
    f = open(path, newline="", encoding="utf-8")
  except OSError as e:
    raise ConfigError(f"match.decisions: cannot read {path}: "
                      f"{e.strerror}") from None
  with f:
    reader = csv.DictReader(f)
    need = ("original_file", "original_line", "source", "enriched_file",
            "enriched_line", "decision")
    missing = [c for c in need if c not in (reader.fieldnames or ())]
    if missing:
      raise ConfigError(f"{path}: line 1: no column {missing[0]!r} (a "
                        f"decisions file is review.csv with `decision` "
                        f"filled in)")
    for row in reader:
      line = reader.line_num
      verdict = row["decision"].strip().lower()
      if not verdict:
        continue
      if verdict not in DECISIONS:
        raise ConfigError(f"{path}: line {line}: decision {row['decision']!r}"
                          f" is not match or no-match")
      source = row["source"]
      if source not in source_files:
        raise ConfigError(f"{path}: line {line}: source {source!r} is not "
                          f"an enriched source of this job")
      files = source_files[source]
      where = [(row["original_file"], rank), (row["enriched_file"],
                                             {f: i for i, f in
                                              enumerate(files)})]
      for name, ranks in where:
        if name not in ranks:
          raise ConfigError(f"{path}: line {line}: file {name!r} is not an "
                            f"input of this job")
      try:
        lines = int(row["original_line"]), int(row["enriched_line"])
      except ValueError:
        raise ConfigError(f"{path}: line {line}: a line number is not a "
                          f"number") from None
      out.append((rank[row["original_file"]], lines[0], source,
                  where[1][1][row["enriched_file"]], lines[1],
                  DECISIONS[verdict]))
  return tuple(out)
