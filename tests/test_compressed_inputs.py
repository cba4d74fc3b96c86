"""Compressed inputs (.gz, .bz2, .zst, or `csv.compression`), through
`crmsync run`: the same merged bytes as the plain files, on both joins;
reports name the compressed file; a corrupt one is a one-line error."""

import bz2
import gzip
import os

import pytest
import zstandard

from conftest import files_in, read_csv
from crmsync.pipelines.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "data", "demo")
CONFIG = os.path.join(ROOT, "configs", "demo.yaml")
COMPRESS = {".gz": gzip.compress, ".bz2": bz2.compress,
            ".zst": zstandard.ZstdCompressor().compress}
INPUTS = ("original.path", "enriched.0.path", "enriched.1.path",
          "enriched.2.path")
FILES = ("crm_export.csv", "enriched_email.csv", "enriched_phone.csv",
         "enriched_firmographic.csv")


def _run(cli, out, paths, *extra):
  code, _, err = cli("run", CONFIG, *[f"--set={k}={p}"
                                      for k, p in zip(INPUTS, paths)],
                     f"--set=output.path={out}/merged",
                     f"--set=output.reports={out}/reports", *extra)
  assert code == 0, err
  return files_in(out, os.path.join(out, "reports"))


def _shards(files):
  return {n: b for n, b in files.items() if n.startswith("merged-")}


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
  """The demo's merged files from its plain inputs."""
  out = str(tmp_path_factory.mktemp("plain"))
  assert main(["run", CONFIG, "--quiet",
               *[f"--set={k}={DEMO}/{f}" for k, f in zip(INPUTS, FILES)],
               f"--set=output.path={out}/merged",
               f"--set=output.reports={out}/reports"]) == 0
  return files_in(out, os.path.join(out, "reports"))


@pytest.mark.parametrize("join", ["broadcast", "partitioned"])
def test_gzip_bzip2_and_zstd_inputs_merge_as_the_plain_files(
    cli, tmp_path, plain, join):
  """hats-import #369 ("Catalog import fails with csv.gz files"), dask
  #1554 (a .csv.bz2 that pandas reads fails in dask's parallel reader):
  the demo's original as .csv.gz, its vendor files as .bz2, .zst and .gz,
  read in splits of 64 KB of their plain copies (`--split_bytes`): the
  same shards, byte for byte, as the plain files; stats.json names the
  compressed files."""
  paths = []
  for name, ext in zip(FILES, (".gz", ".bz2", ".zst", ".gz")):
    with open(os.path.join(DEMO, name), "rb") as f:
      data = f.read()
    path = tmp_path / (name + ext)
    path.write_bytes(COMPRESS[ext](data))
    paths.append(str(path))
  out = _run(cli, str(tmp_path / "out"), paths, f"--set=join={join}",
             "--split_bytes=65536")
  assert _shards(out) == _shards(plain)
  stats = out["stats.json"].decode()
  assert f'"{paths[0]}"' in stats and f'"{paths[2]}"' in stats


def test_a_semicolon_file_in_gzip_is_sniffed_decompressed(
    cli, job, tmp_path):
  """pycytominer #95 ("gzip fails csv sniffer"): the delimiter of a gzip
  file is detected on its text, not its compressed bytes; a file without
  the extension is read as gzip with `csv.compression: gzip`."""
  (tmp_path / "crm.csv.gz").write_bytes(gzip.compress(
      "ID;Email;City\n1;ann@x.com;Lyon\n2;bob@y.com;Nice\n".encode()))
  (tmp_path / "vendor.dat").write_bytes(gzip.compress(
      "Email;Title\nann@x.com;CFO\n".encode()))
  path = job.config(str(tmp_path / "crm.csv.gz"), [{
      "path": str(tmp_path / "vendor.dat"), "name": "v", "keep": ["Title"],
      "csv": {"delimiter": "auto", "compression": "gzip"}}],
      [{"name": "email", "normalize": "email", "columns": ["Email"]}])
  code, out, err = cli("validate", path, "--set=original.csv.delimiter=auto")
  assert code == 0, err
  assert "crm.csv.gz: delimiter ';' (detected), encoding utf-8, gzip" in out
  code, _, err = cli("run", path, "--set=original.csv.delimiter=auto")
  assert code == 0, err
  rows = [r for shard in job.shards() for r in read_csv(shard, ";")[1:]]
  assert [(r[0], r[-1]) for r in rows] == [("1", "CFO"), ("2", "")]


def test_a_corrupt_gzip_file_is_a_one_line_error(cli, tmp_path):
  """A file named .gz that is not gzip (a vendor drop renamed by hand):
  exit 2, one line naming the file, the compression and the key to set;
  nothing written."""
  bad = tmp_path / "crm.csv.gz"
  bad.write_bytes(b"ID,Email\n1,ann@x.com\n")
  code, _, err = cli("run", CONFIG, f"--set=original.path={bad}",
                     f"--set=output.path={tmp_path}/out/merged")
  assert code == 2
  assert err.strip().splitlines() == [
      f"crmsync: error: {bad}: not readable as gzip (Error -3 while "
      f"decompressing data: incorrect header check); set csv.compression "
      f"if the name's extension is wrong"]
  assert not os.path.exists(tmp_path / "out")
