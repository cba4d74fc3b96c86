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
report.html   stats.json as charts, one self-contained file
              (transforms/html_report.py)

Everything is sorted by input position, so reports are deterministic bytes.
"""

import json
import logging
import posixpath
import uuid
from typing import Dict, List, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from crmsync.transforms import worker
from crmsync.transforms.errors import TooManyRejectedError
from crmsync.transforms.html_report import SCORE_BINS, render
from crmsync.transforms.original_duplicates import (
    COLUMNS as DUPLICATES_COLUMNS, REPORT as DUPLICATES_REPORT, report_rows)
from crmsync.transforms.report_parts import (Conflicts, InvalidValues,
                                             Rejected, RejectedMatches, Review,
                                             Unmatched, WriteReportParts,
                                             merge_rejected_summaries,
                                             write_report)
from crmsync.transforms.publish import publish, published
from crmsync.transforms.writing import (TEMP_MARKER, encode_csv,
                                        header_line, remove_folder,
                                        shard_name)

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


def _rate(part: int, whole: int) -> float:
  return round(part / whole, 6) if whole else 0.0


class ReportParts(beam.PTransform):
  """(JoinResult, rejected records) -> ReportPart: conflicts, refused
  values, rejected matches, unmatched enriched rows and rejected records
  (ReadCsv's `.rejected` of every input, flattened), each batch written as
  a part in `folder` where it was made (transforms/report_parts.py).
  `original_name`: the original's source name in the rejected records;
  `source_files`: (source, its files) in priority order."""

  def __init__(self, folder: str, original_name: str,
               original_files: Sequence[str],
               source_files: Sequence[Tuple[str, Sequence[str]]]):
    super().__init__()
    self._folder, self._original_name = folder, original_name
    self._original_files = list(original_files)
    self._source_files = [(n, list(f)) for n, f in source_files]

  def expand(self, inputs):
    result, rejected = inputs
    files, order = self._original_files, [n for n, _ in self._source_files]
    folder = self._folder
    return ((rejected | "Rejected" >> WriteReportParts(
                "rejected.csv", Rejected([self._original_name, *order]),
                folder),
             result.conflicts | "Conflicts" >> WriteReportParts(
                "conflicts.csv", Conflicts(files), folder),
             result.invalid_values | "InvalidValues" >> WriteReportParts(
                 "invalid_values.csv",
                 InvalidValues(files, self._source_files), folder),
             result.rejected_matches | "RejectedMatches" >> WriteReportParts(
                 "rejected_matches.csv", RejectedMatches(files, order),
                 folder),
             result.review | "Review" >> WriteReportParts(
                 "review.csv", Review(files, order), folder),
             result.accounts | "Unmatched" >> WriteReportParts(
                 "unmatched_enriched.csv", Unmatched(order), folder))
            | "AllParts" >> beam.Flatten())


class Finalize(beam.DoFn):
  """Runs once when everything else is done: checks the books, writes
  stats.json, puts each other report together from its parts, and commits
  shards and reports to their final names (transforms/publish.py: a plan,
  the moves, then `<prefix>_manifest.json`). An input
  with more than `max_rejected_fraction` of its rows rejected commits
  nothing (TooManyRejectedError) and removes the run's temporary folder.

  Side inputs: the summed stats; the written shards ((shard, path, rows,
  size and SHA-256));
  the report parts (ReportPart, one per batch of report rows; those of
  rejected.csv carry their rows' rejected_summary); the books of each
  source (join.SourceBooks); with scoring, each source's model
  (scoring.Model.to_json), written to match_weights.json; with
  output.changes, the written shards of the changes and undo files (as
  the merged ones), published beside them as `<prefix>-changes-...` and
  `<prefix>-undo-...`."""

  def __init__(self, *, prefix: str, shards: int, reports_dir: str, tmp: str,
               original_name: str, original_files: List[str],
               source_order: Sequence[str],
               max_rejected_fraction: float = MAX_REJECTED_FRACTION,
               run_id: str = "", publish_id: str = "",
               strategies: Optional[Dict[str, str]] = None):
    self._prefix, self._shards = prefix, shards
    self._run_id = run_id or tmp.rsplit(TEMP_MARKER, 1)[-1]
    # New for each launch: how a retried bundle knows its own publish.
    self._publish_id = publish_id or uuid.uuid4().hex
    self._max_rejected = max_rejected_fraction
    self._reports, self._tmp = reports_dir, tmp
    self._strategies = dict(strategies or {})  # column -> conflict strategy
    self._original = original_name
    self._original_files = list(original_files)
    self._order = tuple(source_order)

  def setup(self):
    worker.prepare()

  def process(self, _, stats, written, parts, books, models=(),
              changes=(), undo=(), duplicates=None):
    done = published(self._prefix, self._publish_id)
    if done is not None:  # a retried bundle: its publish is complete
      yield done["stats"]
      return
    rejected = merge_rejected_summaries(
        p.summary for p in parts if p.report == "rejected.csv")
    rank = {name: i for i, name in enumerate(self._order)}
    books = sorted(books, key=lambda a: rank[a.source])
    rows_written = sum(w[2] for w in written)
    summary = self._summary(stats, rows_written, rejected, books)
    if duplicates is not None:
      summary["original_duplicates"] = duplicates.counts
    # Before anything is written: a retried bundle fails the same way.
    too_many = self._too_many_rejected(summary, rejected)
    if too_many:
      remove_folder(self._tmp)
      raise TooManyRejectedError(too_many)
    if not summary["accounting"]["balanced"]:
      raise UnbalancedBooksError(
          "row accounting does not balance: " +
          json.dumps(summary["accounting"]))
    folder = FileSystems.join(self._tmp, "reports")
    path = FileSystems.join(folder, "stats.json")
    with FileSystems.create(path) as f:
      f.write((json.dumps(summary, indent=2) + "\n").encode())
    moves = [(path, FileSystems.join(self._reports, "stats.json"))]
    if models:
      path = FileSystems.join(folder, "match_weights.json")
      with FileSystems.create(path) as f:
        f.write((json.dumps(sorted(models, key=lambda m: rank[m["source"]]),
                            indent=2) + "\n").encode())
      moves.append((path, FileSystems.join(self._reports,
                                           "match_weights.json")))
      moves.append((write_report("review.csv", parts, folder),
                    FileSystems.join(self._reports, "review.csv")))
    for name in ("conflicts.csv", "unmatched_enriched.csv", "rejected.csv",
                 "rejected_matches.csv", "invalid_values.csv"):
      moves.append((write_report(name, parts, folder),
                    FileSystems.join(self._reports, name)))
    if duplicates is not None:
      path = FileSystems.join(folder, DUPLICATES_REPORT)
      with FileSystems.create(path) as f:
        f.write(header_line(DUPLICATES_COLUMNS))
        f.write(encode_csv(report_rows(duplicates, self._original_files)))
      moves.append((path, FileSystems.join(self._reports,
                                           DUPLICATES_REPORT)))
    path = FileSystems.join(folder, "report.html")
    with FileSystems.create(path) as f:
      f.write(render(summary, rejected, self._strategies,
                     f"crmsync: {posixpath.basename(self._prefix)}"
                     ).encode("utf-8"))
    moves.append((path, FileSystems.join(self._reports, "report.html")))
    described = {}
    for prefix, files in ((self._prefix, written),
                          (f"{self._prefix}-changes", changes),
                          (f"{self._prefix}-undo", undo)):
      files = sorted(files, key=lambda w: w[0])
      for i, (shard, path, _, facts) in enumerate(files):
        extension = posixpath.splitext(path)[1]  # .csv or .parquet
        # Shards cut by file caps ((shard, piece)) are numbered in order.
        moves.append((path, shard_name(prefix, i, len(files), extension)
                      if isinstance(shard, tuple) else
                      shard_name(prefix, shard, self._shards, extension)))
        described[path] = facts
    publish(self._prefix, moves, self._run_id, self._tmp, summary,
            f"{self._prefix}-*-of-*", described, self._publish_id)
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
      # The most common reason; ties go to the one met first.
      reason, (count, file, _, line) = min(
          rejected[name].items(), key=lambda r: (-r[1][0], r[1][1:3]))
      files = len(counts["files"])
      return (f"{file}: {bad} of {read} row{'s' if read != 1 else ''} "
              f"rejected ({label}"
              + (f", {files} files" if files > 1 else "")
              + f"), more than limits.max_rejected_fraction "
              f"({self._max_rejected:g}) allows; most common reason: "
              f"{' '.join(reason.split())} ({count} row"
              f"{'s' if count != 1 else ''}, first at line {line}); "
              f"nothing was written: fix the file, or raise "
              f"limits.max_rejected_fraction")
    return ""

  def _summary(self, stats, rows_written, rejected, books):
    merged = stats.get("merged_rows", 0)
    rejected_by = {source: sum(seen[0] for seen in reasons.values())
                   for source, reasons in rejected.items()}
    orig_rejected = rejected_by.get(self._original, 0)
    enriched = {}
    for a in books:
      matched_rows = stats.get("matched_rows", {}).get(a.source, 0)
      rejected_here = rejected_by.get(a.source, 0)
      enriched[a.source] = {
          "files": a.files,
          "rows_read": a.rows_read + rejected_here,
          "rows_rejected": rejected_here,
          "rows_used": a.rows_used,
          "rows_unmatched": a.rows_unmatched,
          "original_rows_matched": matched_rows,
          "matches_per_key": stats.get("matches", {}).get(a.source, {}),
          "fuzzy_matches": stats.get("fuzzy_matches", {}).get(a.source, 0),
          "matches_rejected_by_confirm": stats.get(
              "rejected_by_confirm", {}).get(a.source, 0),
          "matches_refused_by_assignment": stats.get(
              "refused_by_assignment", {}).get(a.source, 0),
          "match_rate": _rate(matched_rows, merged),
      }
    counted = stats.get("read", {})
    lost = {name: {"read": counted.get(name, 0), "accounted": a.rows_read}
            for name, a in ((a.source, a) for a in books)
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
        "rows_rejected": sum(rejected_by.values()),
        **({"changes": stats["changes"]} if "changes" in stats else {}),
        "match_scores": [stats.get("match_scores", {}).get(i, 0)
                         for i in range(SCORE_BINS)],
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
