"""File caps (output.max_rows_per_file, output.max_bytes_per_file): the
output, changes and undo files split so that none exceeds them, in order,
through `crmsync run` on both joins."""

import csv
import glob
import os

import pytest

from conftest import write_csv


def _job(job, tmp_path, join, **output):
  rows = [["ID", "Email", "Note"]] + [
      [f"C{i:04d}", f"u{i}@x.com", "two\nlines" if i % 97 == 0 else "n"]
      for i in range(2500)]
  write_csv(tmp_path / "crm.csv", rows)
  write_csv(tmp_path / "vendor.csv", [["Email", "Title"]] + [
      [f"u{i}@x.com", "CFO"] for i in range(0, 2500, 3)])
  path = job.config(str(tmp_path / "crm.csv"), [{
      "path": str(tmp_path / "vendor.csv"), "name": "v",
      "keep": ["Title"]}],
      [{"name": "email", "normalize": "email", "columns": ["Email"]}],
      join=join, shards=output.pop("shards", 1))
  return path, [f"--set=output.{k}={v}" for k, v in output.items()]


def _read(pattern):
  out = []
  for path in sorted(glob.glob(pattern)):
    with open(path, newline="", encoding="utf-8") as f:
      out.append((os.path.basename(path), os.path.getsize(path),
                  list(csv.reader(f))))
  return out


@pytest.mark.parametrize("join", ["broadcast", "partitioned"])
def test_2500_rows_at_1000_per_file_are_3_files_in_order(job, cli, tmp_path,
                                                         join):
  path, args = _job(job, tmp_path, join, max_rows_per_file=1000)
  code, _, err = cli("run", path, *args,
                     "--set=output.changes.id_columns=[ID]")
  assert code == 0, err
  files = _read(job.prefix + "-[0-9]*.csv")
  assert [(name, len(rows) - 1) for name, _, rows in files] == [
      ("merged-00000-of-00003.csv", 1000), ("merged-00001-of-00003.csv", 1000),
      ("merged-00002-of-00003.csv", 500)]
  assert [r[0] for _, _, rows in files for r in rows[1:]] == [
      f"C{i:04d}" for i in range(2500)]
  assert all(rows[0] == ["ID", "Email", "Note", "Title"]
             for _, _, rows in files)
  # 834 changed rows: the changes and undo files are capped too.
  changes = _read(job.prefix + "-changes-*.csv")
  assert [len(rows) - 1 for _, _, rows in changes] == [834]
  assert job.report("stats.json")["original"]["rows_written"] == 2500


def test_a_byte_cap_keeps_every_file_under_it_and_rows_whole(job, cli,
                                                             tmp_path):
  """Every file, header included, within 16,000 bytes; a quoted line break
  stays inside its row; a later run without caps replaces the capped
  files."""
  path, args = _job(job, tmp_path, "broadcast", shards=2,
                    max_bytes_per_file=16000)
  code, _, err = cli("run", path, *args)
  assert code == 0, err
  files = _read(job.prefix + "-[0-9]*.csv")
  assert len(files) >= 4  # about 60 KB
  assert max(size for _, size, _ in files) <= 16000
  rows = [r for _, _, data in files for r in data[1:]]
  assert [r[0] for r in rows] == [f"C{i:04d}" for i in range(2500)]
  assert rows[97][2] == "two\nlines"
  code, _, err = cli("run", path)
  assert code == 0, err
  assert [name for name, _, _ in _read(job.prefix + "-[0-9]*.csv")] == [
      "merged-00000-of-00002.csv", "merged-00001-of-00002.csv"]
