"""output.format: parquet, through `crmsync run` on both joins: the merged
shards as Parquet files holding the CSV output's rows, one string schema
across shards, file caps by rows, and a change of format that replaces the
previous output."""

import glob
import json
import os

import pyarrow.parquet as pq
import pytest

from conftest import write_csv
from crmsync.transforms.faults import FAULT_ENV

# The OWASP CSV-injection example: escaped in CSV for spreadsheets, kept as
# is in Parquet, which no spreadsheet opens.
FORMULA = '=HYPERLINK("http://evil.example","Click")'


def _job(job, tmp_path, join, shards=3, rows=300):
  write_csv(tmp_path / "crm.csv", [["ID", "Email", "Note"]] + [
      [f"C{i:04d}", f"u{i}@x.com", FORMULA if i == 7 else ""]
      for i in range(rows)])
  # Titles only for the first rows: the last shard has none. Files that
  # type such a column by its values disagree on its type from shard to
  # shard (fink-client #234, aws-sdk-pandas #457); ours are strings.
  write_csv(tmp_path / "vendor.csv", [["Email", "Title"]] + [
      [f"u{i}@x.com", "CFO"] for i in range(0, rows // 3, 2)])
  return job.config(str(tmp_path / "crm.csv"), [{
      "path": str(tmp_path / "vendor.csv"), "name": "v", "keep": ["Title"]}],
      [{"name": "email", "normalize": "email", "columns": ["Email"]}],
      join=join, shards=shards)


def _parquet(prefix):
  return sorted(glob.glob(prefix + "-*-of-*.parquet"))


@pytest.mark.parametrize("join", ["broadcast", "partitioned"])
def test_parquet_shards_hold_the_csv_rows_with_one_schema(job, cli, tmp_path,
                                                          join):
  path = _job(job, tmp_path, join)
  code, _, err = cli("run", path)
  assert code == 0, err
  header, csv_rows = job.output()
  code, _, err = cli("run", path, "--set=output.format=parquet",
                     f"--set=output.path={tmp_path}/pq/merged")
  assert code == 0, err
  files = _parquet(f"{tmp_path}/pq/merged")
  assert [os.path.basename(f) for f in files] == [
      f"merged-0000{i}-of-00003.parquet" for i in range(3)]
  tables = [pq.read_table(f) for f in files]
  assert all(t.schema.names == header for t in tables)
  assert {str(f.type) for t in tables for f in t.schema} == {"string"}
  assert tables[-1].column("Title").null_count == tables[-1].num_rows
  rows = [[v for v in r.values()] for t in tables for r in t.to_pylist()]
  assert [["" if v is None else v for v in r] for r in rows] == [
      [v[1:] if v.startswith("'=") else v for v in r] for r in csv_rows]
  assert rows[7][2] == FORMULA and csv_rows[7][2] == "'" + FORMULA
  assert rows[0][3] == "CFO" and rows[1][3] is None
  # The shards read as one dataset.
  assert pq.ParquetDataset(files).read().num_rows == 300


def test_a_row_cap_splits_parquet_shards_and_changes_stay_csv(job, cli,
                                                             tmp_path):
  path = _job(job, tmp_path, "broadcast", shards=1, rows=2500)
  code, _, err = cli("run", path, "--set=output.format=parquet",
                     "--set=output.max_rows_per_file=1000",
                     "--set=output.changes.id_columns=[ID]")
  assert code == 0, err
  files = _parquet(job.prefix)
  assert [(os.path.basename(f), pq.read_metadata(f).num_rows)
          for f in files] == [("merged-00000-of-00003.parquet", 1000),
                              ("merged-00001-of-00003.parquet", 1000),
                              ("merged-00002-of-00003.parquet", 500)]
  ids = [i for f in files for i in pq.read_table(f).column("ID").to_pylist()]
  assert ids == [f"C{i:04d}" for i in range(2500)]
  changes = glob.glob(job.prefix + "-changes-*")
  assert [os.path.basename(c) for c in changes] == [
      "merged-changes-00000-of-00001.csv"]


def test_a_change_of_format_replaces_the_previous_output(job, cli, tmp_path):
  path = _job(job, tmp_path, "broadcast")
  assert cli("run", path)[0] == 0
  assert len(job.shards()) == 3
  code, _, err = cli("run", path, "--set=output.format=parquet")
  assert code == 0, err
  assert job.shards() == [] and len(_parquet(job.prefix)) == 3
  with open(job.prefix + "_manifest.json") as f:
    assert sorted(os.path.basename(e["path"]) for e in json.load(f)[
        "files"] if e["path"].startswith(job.prefix + "-")) == [
            os.path.basename(p) for p in _parquet(job.prefix)]
  assert cli("run", path)[0] == 0
  assert len(job.shards()) == 3 and _parquet(job.prefix) == []


def test_a_byte_cap_on_parquet_is_a_config_error(job, cli, tmp_path):
  path = _job(job, tmp_path, "broadcast")
  code, _, err = cli("run", path, "--set=output.format=parquet",
                     "--set=output.max_bytes_per_file=1000000")
  assert code == 2
  assert "output.max_bytes_per_file" in err and "Parquet" in err
  assert "Traceback" not in err and _parquet(job.prefix) == []


def _bytes(prefix):
  out = {}
  for path in _parquet(prefix):
    with open(path, "rb") as f:
      out[os.path.basename(path)] = f.read()
  return out


def test_the_bytes_do_not_depend_on_batches_or_the_join(job, cli, tmp_path):
  """Row groups are counted from each file's first row, not one per
  merged batch."""
  path = _job(job, tmp_path, "broadcast")
  runs = {}
  for name, args in (("default", []), ("batches of 37", ["--batch_rows=37"]),
                     ("partitioned", ["--set=join=partitioned",
                                      "--batch_rows=37"])):
    code, _, err = cli("run", path, "--set=output.format=parquet",
                       f"--set=output.path={tmp_path}/{len(runs)}/merged",
                       *args)
    assert code == 0, err
    runs[name] = _bytes(f"{tmp_path}/{len(runs)}/merged")
  assert len(runs["default"]) == 3
  assert runs["batches of 37"] == runs["default"] == runs["partitioned"]
  assert pq.read_metadata(
      f"{tmp_path}/1/merged-00000-of-00003.parquet").num_row_groups == 1


def test_a_failed_shard_write_publishes_nothing(job, cli, tmp_path,
                                                monkeypatch):
  path = _job(job, tmp_path, "broadcast")
  assert cli("run", path, "--set=output.format=parquet")[0] == 0
  before = _bytes(job.prefix)
  monkeypatch.setenv(FAULT_ENV, f"write:concat@{tmp_path}")
  code, _, err = cli("run", path, "--set=output.format=parquet",
                     "--set=output.shards=2")
  assert code != 0 and "injected fault" in err
  assert _bytes(job.prefix) == before  # the previous run's 3 shards


def test_a_byte_cap_with_changes_caps_the_changes_files(job, cli, tmp_path):
  path = _job(job, tmp_path, "broadcast", shards=1)
  code, _, err = cli("run", path, "--set=output.format=parquet",
                     "--set=output.max_bytes_per_file=300",
                     "--set=output.changes.id_columns=[ID]")
  assert code == 0, err
  assert len(_parquet(job.prefix)) == 1
  changes = sorted(glob.glob(job.prefix + "-changes-*.csv"))
  assert len(changes) > 1 and all(os.path.getsize(c) <= 300
                                  for c in changes)
