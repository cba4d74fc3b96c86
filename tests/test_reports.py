"""The reports (transforms/reports.py, transforms/report_parts.py): written
in parts where their rows are made, put together in input order."""

import csv

import pyarrow as pa
import pytest

from conftest import write_csv
from crmsync.transforms.report_parts import (merge_rejected_summaries,
                                             rejected_summary)
from crmsync.transforms.rows import RejectedRow, rejected_batch


def _rows(path):
  with open(path, newline="", encoding="utf-8") as f:
    return list(csv.reader(f))


@pytest.mark.parametrize("join", ["broadcast", "partitioned"])
def test_many_report_rows_over_many_batches_come_out_whole_and_in_order(
    tmp_path, cli, join):
  n = 1200
  crm = [["ID", "Email", "Title"]]
  for i in range(n):
    if i % 3 == 2:
      crm.append([str(i), f"p{i}@x.com", "a", "stray"])  # a field too many
    else:
      crm.append([str(i), f"p{i}@x.com", f"old {i}"])
  write_csv(tmp_path / "crm.csv", crm)
  write_csv(tmp_path / "vendor.csv", [["Email", "Title"]] + [
      [f"p{i}@x.com", f"new {i}"] for i in range(n)])
  config = tmp_path / "job.yaml"
  config.write_text(
      f"original: {{path: {tmp_path}/crm.csv}}\n"
      f"enriched: [{{path: {tmp_path}/vendor.csv, name: v,"
      " columns: {Title: Title}}]\n"
      "match: {keys: [{name: email, normalize: email, columns: [Email]}]}\n"
      "conflicts: {default: replace}\n"
      f"join: {join}\njoin_partitions: 3\n"
      "limits: {max_rejected_fraction: 0.5}\n"
      f"output: {{path: {tmp_path}/out/merged, shards: 2}}\n")
  code, _, err = cli("run", str(config), "--batch_rows=40")
  assert code == 0, err
  reports = tmp_path / "out" / "reports"
  rejected = _rows(reports / "rejected.csv")
  assert rejected[0] == ["source", "file", "line", "reason", "raw"]
  assert [int(r[2]) for r in rejected[1:]] == [
      i + 2 for i in range(n) if i % 3 == 2]
  assert rejected[1][4] == "2,p2@x.com,a,stray"
  conflicts = _rows(reports / "conflicts.csv")
  assert [(int(r[1]), r[3], r[4]) for r in conflicts[1:]] == [
      (i + 2, f"old {i}", f"new {i}") for i in range(n) if i % 3 != 2]


def test_the_rejected_summary_counts_and_finds_each_reasons_first_record():
  def row(file, offset, line, reason):
    return RejectedRow("crm", file, line, offset, reason, "raw")
  later = rejected_batch([row("b.csv", 10, 3, "too many fields"),
                          row("b.csv", 40, 9, "too few fields")])
  earlier = rejected_batch([row("a.csv", 95, 21, "too few fields"),
                            row("a.csv", 90, 20, "too few fields")])
  summaries = [rejected_summary(pa.Table.from_batches([b]))
               for b in (later, earlier)]
  assert merge_rejected_summaries(summaries) == {"crm": {
      "too many fields": [1, "b.csv", 10, 3],
      "too few fields": [3, "a.csv", 90, 20]}}
