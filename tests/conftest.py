"""Helpers: write input files, run the CLI in-process, read the outputs."""

import csv
import glob
import io
import json
import os

import pyarrow as pa
import pytest
import yaml

from crmsync.pipelines.cli import main
from crmsync.transforms.columns import LINE_COL, OFFSET_COL
from crmsync.transforms.csv_source import CsvSource
from crmsync.transforms.rows import RowBatch


def write_csv(path, rows, *, delimiter=",", encoding="utf-8", newline="\n",
              bom=False):
  buf = io.StringIO()
  csv.writer(buf, delimiter=delimiter, lineterminator=newline).writerows(rows)
  data = buf.getvalue().encode(encoding)
  with open(path, "wb") as f:
    f.write((b"\xef\xbb\xbf" if bom else b"") + data)
  return str(path)


def files_in(*folders):
  """The bytes of the files directly in `folders`, by file name (a
  manifest as stable_manifest gives it)."""
  found = {}
  for folder in folders:
    for name in sorted(os.listdir(folder)):
      path = os.path.join(folder, name)
      if os.path.isfile(path):
        with open(path, "rb") as f:
          found[name] = stable_manifest(name, f.read())
  return found


def stable_manifest(name: str, data: bytes) -> bytes:
  """A `<prefix>_manifest.json` without what names its run (run and publish
  ids, time, where the output was written): the same for the same output
  wherever and whenever it was written. Other files as they are."""
  if not name.endswith("_manifest.json"):
    return data
  import json
  manifest = json.loads(data)
  del manifest["run_id"], manifest["publish_id"], manifest["committed_at"]
  for entry in manifest["files"]:
    entry["path"] = os.path.basename(entry["path"])
  return json.dumps(manifest, sort_keys=True).encode()


def read_csv(path, delimiter=","):
  with open(path, newline="", encoding="utf-8") as f:
    return list(csv.reader(f, delimiter=delimiter))


class Job:
  """A job in a temporary folder: inputs, config, and its outputs."""

  def __init__(self, root):
    self.root = root
    self.prefix = os.path.join(root, "out", "merged")
    self.reports = os.path.join(root, "out", "reports")

  def config(self, original, enriched, keys, **extra):
    cfg = {
        "original": {"path": original},
        "enriched": enriched,
        "match": {"keys": keys},
        "output": {"path": self.prefix, "shards": extra.pop("shards", 2),
                   "reports": self.reports},
    }
    cfg.update(extra)
    path = os.path.join(self.root, "job.yaml")
    with open(path, "w") as f:
      yaml.safe_dump(cfg, f, sort_keys=False)
    return path

  def shards(self):
    return sorted(glob.glob(self.prefix + "-*-of-*.csv"))

  def output(self):
    """(header, rows) of the shards concatenated; every shard's header is
    checked to be the same."""
    header, rows = None, []
    for path in self.shards():
      data = read_csv(path)
      assert header is None or data[0] == header, path
      header = data[0]
      rows.extend(data[1:])
    return header, rows

  def dicts(self):
    header, rows = self.output()
    return [dict(zip(header, r)) for r in rows]

  def report(self, name):
    path = os.path.join(self.reports, name)
    if name.endswith(".json"):
      with open(path) as f:
        return json.load(f)
    data = read_csv(path)
    return [dict(zip(data[0], r)) for r in data[1:]]

  def output_bytes(self):
    out = {}
    for path in self.shards() + sorted(glob.glob(self.reports + "/*")):
      with open(path, "rb") as f:
        out[os.path.basename(path)] = f.read()
    return out


@pytest.fixture
def job(tmp_path):
  return Job(str(tmp_path))


def run_cli(capsys, *args):
  """Runs `crmsync ARGS` in-process: (exit code, stdout, stderr)."""
  code = main([str(a) for a in args])
  out, err = capsys.readouterr()
  return code, out, err


@pytest.fixture
def cli(capsys):
  return lambda *args: run_cli(capsys, *args)


class RowTuples(CsvSource):
  """A CsvSource yielding one comparable tuple per row (its values, then
  offset and line) or rejection, for the split tests."""

  def read_records(self, file_name, range_tracker):
    for el in super().read_records(file_name, range_tracker):
      if isinstance(el, RowBatch):
        yield from (tuple(r.values()) for r in el.table.to_pylist())
      else:
        yield ("rejected", el.line, el.reason)


def python_runner_pipeline():
  """A TestPipeline on Beam's in-process Python runner (no Prism lookup)."""
  from apache_beam.runners.portability.fn_api_runner import FnApiRunner
  from apache_beam.testing.test_pipeline import TestPipeline
  return TestPipeline(runner=FnApiRunner())


def row_batch(file_index, columns, offsets=None, lines=None):
  """A RowBatch as ReadCsv makes one: string columns, then each record's
  byte offset and line (by default 100 bytes a record, from line 2)."""
  n = len(next(iter(columns.values())))
  offsets = list(range(0, 100 * n, 100)) if offsets is None else offsets
  lines = list(range(2, n + 2)) if lines is None else lines
  arrays = [pa.array(v, pa.string()) for v in columns.values()]
  arrays += [pa.array(offsets, pa.int64()), pa.array(lines, pa.int64())]
  return RowBatch(file_index, pa.RecordBatch.from_arrays(
      arrays, names=list(columns) + [OFFSET_COL, LINE_COL]))


# The slowest files first: `--dist loadfile` hands whole files to the two
# workers in collection order, so the clusters' tests, started last, kept
# one worker busy for minutes after the other ran out of files.
SLOW_FIRST = ("test_runners.py", "test_partition_scores.py", "test_s3.py",
              "test_faults.py")


def pytest_collection_modifyitems(items):
  rank = {name: i for i, name in enumerate(SLOW_FIRST)}
  items.sort(key=lambda item: rank.get(os.path.basename(str(item.fspath)),
                                       len(SLOW_FIRST)))
