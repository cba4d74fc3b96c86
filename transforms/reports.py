"""The reports beside the merged output, and the books that must balance.

stats.json    rows read, matched per key per source, match and fill rates,
              conflicts per column, rejected rows, and the accounting check
conflicts.csv every value a strategy had to decide on
unmatched_enriched.csv  enriched rows that matched nothing (file, line, row)
rejected.csv  malformed input records (file, line, reason, raw text)
rejected_matches.csv  key hits that a key's `confirm` columns rejected, with
              both rows
invalid_values.csv  enriched values their column's kind rejects (not a
              phone, email, ZIP or web address), never written by default

Everything is sorted by input position, so reports are deterministic bytes.
"""

import collections
import csv
import io
import json
import logging
from typing import Dict, List, Sequence

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.io.filesystems import FileSystems

from crmsync.transforms import worker
from crmsync.transforms.errors import TooManyRejectedError
from crmsync.transforms.columns import FILE_COL, LINE_COL
from crmsync.transforms.rows import RejectedRow
from crmsync.transforms.normalizers.text import has_any
from crmsync.transforms.writing import (commit, encode_csv, header_line,
                                remove_folder, shard_name)

_LOG = logging.getLogger(__name__)
# A run that rejects more than this share of an input's rows publishes
# nothing (limits.max_rejected_fraction).
MAX_REJECTED_FRACTION = 0.01


class UnbalancedBooksError(RuntimeError):
  """Rows went missing or were duplicated: the output is not committed."""


def add_stats(a: Dict, b: Dict) -> Dict:
  """Sums two nested dicts of counts."""
  out = dict(a)
  for k, v in b.items():
    if isinstance(v, dict):
      out[k] = add_stats(out.get(k, {}), v)
    else:
      out[k] = out.get(k, 0) + v
  return out


class SumStats(beam.CombineFn):

  def create_accumulator(self):
    return {}

  def add_input(self, acc, stats):
    return add_stats(acc, stats)

  def merge_accumulators(self, accs):
    out = {}
    for a in accs:
      out = add_stats(out, a)
    return out

  def extract_output(self, acc):
    return acc


def _csv_bytes(header: Sequence[str], rows) -> bytes:
  buf = io.StringIO()
  w = csv.writer(buf, lineterminator="\n")
  w.writerow(header)
  w.writerows(rows)
  return buf.getvalue().encode("utf-8")


def _rate(part: int, whole: int) -> float:
  return round(part / whole, 6) if whole else 0.0


class Finalize(beam.DoFn):
  """Runs once when everything else is done: writes the reports, checks the
  books, and commits shards and reports to their final names. An input
  with more than `max_rejected_fraction` of its rows rejected commits
  nothing (TooManyRejectedError) and removes the run's temporary folder."""

  def __init__(self, *, prefix: str, shards: int, reports_dir: str, tmp: str,
               original_name: str, original_files: List[str],
               source_order: Sequence[str],
               max_rejected_fraction: float = MAX_REJECTED_FRACTION):
    self._prefix, self._shards = prefix, shards
    self._max_rejected = max_rejected_fraction
    self._reports, self._tmp = reports_dir, tmp
    self._original = original_name
    self._original_files = list(original_files)
    self._order = tuple(source_order)
    self._rank = {n: i for i, n in enumerate((original_name,) + self._order)}

  def setup(self):
    worker.prepare()

  def process(self, _, stats, written, rejected, conflicts, accounts,
              rejected_matches, invalid_values=()):
    rank = {name: i for i, name in enumerate(self._order)}
    accounts = sorted(accounts, key=lambda a: rank[a.source])
    rows_written = sum(r for _, _, r in written)
    rejected = sorted(rejected, key=self._rejected_order)
    summary = self._summary(stats, rows_written, rejected, accounts)
    # Before anything is written: a retried bundle fails the same way.
    too_many = self._too_many_rejected(summary, rejected)
    if too_many:
      remove_folder(self._tmp)
      raise TooManyRejectedError(too_many)
    files = {
        "stats.json": (json.dumps(summary, indent=2) + "\n").encode(),
        "conflicts.csv": self._conflicts_csv(conflicts),
        "unmatched_enriched.csv": self._unmatched_csv(accounts),
        "rejected.csv": _csv_bytes(
            ("source", "file", "line", "reason", "raw"),
            [(r.source, r.file, r.line, r.reason, r.raw) for r in rejected]),
        "rejected_matches.csv": self._rejected_matches_csv(rejected_matches),
        "invalid_values.csv": self._invalid_values_csv(invalid_values,
                                                       accounts),
    }
    moves = []
    for name, data in files.items():
      path = FileSystems.join(self._tmp, "reports", name)
      with FileSystems.create(path) as f:
        f.write(data)
      moves.append((path, FileSystems.join(self._reports, name)))
    if not summary["accounting"]["balanced"]:
      raise UnbalancedBooksError(
          "row accounting does not balance: " +
          json.dumps(summary["accounting"]))
    for shard, path, _ in sorted(written):
      moves.append((path, shard_name(self._prefix, shard, self._shards)))
    commit(self._prefix, moves)
    _LOG.info("committed %d shards (%d rows) to %s-*, reports in %s",
              len(written), rows_written, self._prefix, self._reports)
    yield summary

  def _too_many_rejected(self, summary, rejected) -> str:
    """The error for the first input (original, then each source in order)
    whose rejected share is over the limit; "" when none is."""
    inputs = [(self._original, "original", summary["original"])] + [
        (name, f"enriched {name}", e)
        for name, e in summary["enriched"].items()]
    for name, label, counts in inputs:
      bad, read = counts["rows_rejected"], counts["rows_read"]
      if not read or bad / read <= self._max_rejected:
        continue
      rows = [r for r in rejected if r.source == name]
      reasons = collections.Counter(r.reason for r in rows)
      # The most common reason; ties go to the one met first.
      reason, count = reasons.most_common(1)[0]
      first = next(r for r in rows if r.reason == reason)
      files = len(counts["files"])
      return (f"{first.file}: {bad} of {read} row{'s' if read != 1 else ''} "
              f"rejected ({label}"
              + (f", {files} files" if files > 1 else "")
              + f"), more than limits.max_rejected_fraction "
              f"({self._max_rejected:g}) allows; most common reason: "
              f"{' '.join(reason.split())} ({count} row"
              f"{'s' if count != 1 else ''}, first at line {first.line}); "
              f"nothing was written: fix the file, or raise "
              f"limits.max_rejected_fraction")
    return ""

  def _rejected_order(self, r: RejectedRow):
    return self._rank.get(r.source, len(self._rank)), r.file, r.offset

  def _summary(self, stats, rows_written, rejected, accounts):
    merged = stats.get("merged_rows", 0)
    rejected_by = {}
    for r in rejected:
      rejected_by[r.source] = rejected_by.get(r.source, 0) + 1
    orig_rejected = rejected_by.get(self._original, 0)
    enriched = {}
    for a in accounts:
      matched_rows = stats.get("matched_rows", {}).get(a.source, 0)
      rejected_here = rejected_by.get(a.source, 0)
      enriched[a.source] = {
          "files": a.files,
          "rows_read": a.rows_read + rejected_here,
          "rows_rejected": rejected_here,
          "rows_used": a.rows_used,
          "rows_unmatched": a.unmatched.num_rows,
          "original_rows_matched": matched_rows,
          "matches_per_key": stats.get("matches", {}).get(a.source, {}),
          "fuzzy_matches": stats.get("fuzzy_matches", {}).get(a.source, 0),
          "matches_rejected_by_confirm": stats.get(
              "rejected_by_confirm", {}).get(a.source, 0),
          "match_rate": _rate(matched_rows, merged),
      }
    counted = stats.get("read", {})
    lost = {name: {"read": counted.get(name, 0), "accounted": a.rows_read}
            for name, a in ((a.source, a) for a in accounts)
            if counted.get(name, 0) != a.rows_read}
    if counted.get(self._original, 0) != merged:
      lost[self._original] = {"read": counted.get(self._original, 0),
                              "accounted": merged}
    enriched_read = sum(e["rows_read"] for e in enriched.values())
    enriched_accounted = sum(e["rows_used"] + e["rows_unmatched"] +
                             e["rows_rejected"] for e in enriched.values())
    before = stats.get("filled_before", {})
    after = stats.get("filled_after", {})
    return {
        "original": {
            "files": self._original_files,
            "rows_read": merged + orig_rejected,
            "rows_rejected": orig_rejected,
            "rows_written": rows_written,
        },
        "enriched": enriched,
        "rows_matched": stats.get("matched_any", 0),
        "match_rate": _rate(stats.get("matched_any", 0), merged),
        "conflicts": dict(sorted(stats.get("conflicts", {}).items())),
        "invalid_values": dict(sorted(stats.get("invalid_values",
                                                {}).items())),
        "fill_rate": {
            c: {"before": _rate(before[c], merged) if c in before else None,
                "after": _rate(after[c], merged)} for c in after},
        "rows_rejected": len(rejected),
        "accounting": {
            "original_read": merged + orig_rejected,
            "original_written_plus_rejected": rows_written + orig_rejected,
            "enriched_read": enriched_read,
            "enriched_used_plus_unmatched_plus_rejected": enriched_accounted,
            **({"rows_read_but_not_accounted": lost} if lost else {}),
            "balanced": (merged == rows_written and not lost and
                         enriched_read == enriched_accounted),
        },
    }

  def _conflicts_csv(self, batches) -> bytes:
    header = ("original_file", "original_line", "column", "original_value",
              "enriched_value", "enriched_source", "strategy", "resolution")
    if not batches:
      return _csv_bytes(header, [])
    t = pa.Table.from_batches(batches).sort_by(
        [("file_index", "ascending"), ("offset", "ascending"),
         ("column", "ascending")])
    files = pa.array(self._original_files, pa.string()).take(t["file_index"])
    return _table_csv(header, [files, t["line"], t["column"], t["original"],
                               t["enriched"], t["source"], t["strategy"],
                               t["resolution"]])

  def _invalid_values_csv(self, batches, accounts) -> bytes:
    header = ("original_file", "original_line", "column", "value", "source",
              "enriched_file", "enriched_line", "reason")
    if not batches:
      return _csv_bytes(header, [])
    rank = pa.array([self._rank[n] for n in self._order], pa.int64())
    t = pa.Table.from_batches(batches)
    t = t.append_column("rank", rank.take(pc.index_in(
        t["source"], value_set=pa.array(self._order, pa.string()))))
    t = t.sort_by([("file_index", "ascending"), ("offset", "ascending"),
                   ("column", "ascending"), ("rank", "ascending")])
    files = {a.source: a.files for a in accounts}
    source_files = pa.array([files[s][f] for s, f in zip(
        t["source"].to_pylist(), t["source_file"].to_pylist())], pa.string())
    return _table_csv(header, [
        pa.array(self._original_files, pa.string()).take(t["file_index"]),
        t["line"], t["column"], t["value"], t["source"], source_files,
        t["source_line"], t["reason"]])

  def _rejected_matches_csv(self, batches) -> bytes:
    header = ("original_file", "original_line", "source", "key",
              "confirm_score", "original_values", "enriched_file",
              "enriched_line", "enriched_values")
    if not batches:
      return _csv_bytes(header, [])
    t = pa.Table.from_batches(batches).to_pylist()
    t.sort(key=lambda r: (r["file_index"], r["offset"],
                          self._rank[r["source"]], r["key"]))
    return _csv_bytes(header, [
        (self._original_files[r["file_index"]], r["line"], r["source"],
         r["key"], r["score"], r["original"], r["enriched_file"],
         r["enriched_line"], r["enriched"]) for r in t])

  @staticmethod
  def _unmatched_csv(accounts) -> bytes:
    parts = []
    for a in accounts:
      part = a.unmatched.sort_by([(FILE_COL, "ascending"),
                                  (LINE_COL, "ascending")])
      n = part.num_rows
      parts.append(pa.table({
          "source": pa.array([a.source] * n, pa.string()),
          "file": pa.array(a.files, pa.string()).take(part[FILE_COL]),
          "line": part[LINE_COL],
          "row": json_objects(part.drop_columns([FILE_COL, LINE_COL]))}))
    header = ("source", "file", "line", "row")
    if not parts:
      return _csv_bytes(header, [])
    t = pa.concat_tables(parts)
    return _table_csv(header, t.columns)


def _table_csv(header: Sequence[str], columns) -> bytes:
  """A report's CSV bytes from its columns, encoded by Arrow rather than row
  by row (large strings: a report may pass 2 GB). The quoting is that of
  Python's csv module (QUOTE_MINIMAL), except that a value holding a bare
  CR is quoted too, as in the merged output."""
  strings = [pc.cast(c, pa.large_string()) for c in columns]
  return header_line(header) + encode_csv(
      pa.table(strings, names=list(header)))


# json.dumps(..., ensure_ascii=False) escapes these, and other control
# characters as \u00XX.
_JSON_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"),
                 ("\t", "\\t"), ("\b", "\\b"), ("\f", "\\f"))
_OTHER_CONTROLS = bytes(c for c in range(0x20) if c not in b"\n\r\t\b\f")


def json_objects(table: pa.Table) -> pa.Array:
  """Each row as the JSON object json.dumps(row, ensure_ascii=False) makes
  of it, built column by column: unmatched rows can be millions."""
  n, text = table.num_rows, pa.large_string()  # may pass 2 GB

  def lit(s):
    return pa.scalar(s, text)
  if not table.num_columns:
    return pa.array(["{}"] * n, text)
  parts = [pc.binary_join_element_wise(
      lit(json.dumps(name, ensure_ascii=False) + ": "), _json_strings(column),
      lit("")) for name, column in zip(table.column_names, table.columns)]
  body = pc.binary_join_element_wise(*parts, lit(", ")) if len(parts) > 1 \
      else parts[0]
  return pc.binary_join_element_wise(lit("{"), body, lit("}"), lit(""))


def _json_strings(column) -> pa.Array:
  text = pa.large_string()
  values = pc.cast(column, text)
  if isinstance(values, pa.ChunkedArray):
    values = values.combine_chunks()
  if has_any(values, _OTHER_CONTROLS):  # rare: Python escapes this column
    return pa.array([json.dumps(v, ensure_ascii=False)
                     for v in values.to_pylist()], text)
  for char, escaped in _JSON_ESCAPES:
    if has_any(values, char.encode()):
      values = pc.replace_substring(values, char, escaped)
  quote = pa.scalar('"', text)
  return pc.fill_null(pc.binary_join_element_wise(
      quote, values, quote, pa.scalar("", text)), pa.scalar("null", text))
