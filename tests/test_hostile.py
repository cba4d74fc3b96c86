"""The hostile corpus (tests/data/hostile/, made by make_hostile.py): each
file, read as the original of a merge, gives exactly the rows, rejections
(with their lines) or error listed here. tests/data/README.md has the table.
"""

import os
import sys

import pytest

from crmsync.transforms import csv_scan
from conftest import write_csv

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "data", "hostile")
sys.path.insert(0, os.path.join(HERE, "data"))
from make_hostile import CORPUS as FILES  # noqa: E402

EMAIL_KEY = [{"name": "email", "normalize": "email", "columns": ["Email"]}]

# file -> (IDs written, {line: start of the rejection reason})
MERGED = {
    "five_thousand_columns.csv": (["1", "2"], {}),
    "header_only.csv": ([], {}),
    "long_line_no_final_newline.csv": (["1", "2"], {}),
    "mixed_line_ends.csv": (["1", "2", "4"], {
        4: "a bare carriage return (CR) outside quotes"}),
    "nul_bytes.csv": (["1", "3"], {3: "a NUL byte"}),
    "one_megabyte_field.csv": (["1", "2", "3"], {}),
    # RFC 4180: a quote opens a quoted field; this one is never closed, so
    # the record runs to the end of the file and is rejected whole.
    "quote_in_unquoted_field.csv": (["1", "2"], {
        4: "malformed quoting (unclosed quote: the field runs to the end of "
           "the file, over 3 lines)"}),
    "ragged_rows.csv": (["1", "2", "4", "6"], {
        4: "expected 3 fields, found 2", 6: "expected 3 fields, found 4"}),
    "unclosed_quote.csv": (["1", "2", "3"], {
        5: "malformed quoting (unclosed quote: the field runs to the end of "
           "the file, over 3 lines)"}),
    "undecodable_bytes.csv": (["1", "3"], {3: "not valid utf-8"}),
    "whitespace_only_keys.csv": (["1", "2", "3", "4"], {}),
}
ERRORS = {
    "cr_only_line_ends.csv": "line 1: the header holds a bare carriage return",
    "duplicate_headers.csv": "line 1: duplicate column name 'Email' "
                             "(columns 2 and 3)",
    "only_bom.csv": "file is empty (no header row)",
    "zero_bytes.csv": "file is empty (no header row)",
}


def test_the_corpus_is_what_the_script_makes(tmp_path):
  assert sorted(FILES) == sorted(os.listdir(CORPUS))
  assert sorted(FILES) == sorted(list(MERGED) + list(ERRORS))
  for name, data in FILES.items():
    with open(os.path.join(CORPUS, name), "rb") as f:
      assert f.read() == data, name


@pytest.fixture
def enriched(tmp_path):
  return write_csv(tmp_path / "vendor.csv", [
      ["Email", "Title"], ["u1@x.com", "T1"], ["u3@x.com", "T3"],
      ["u5@x.com", "T5"]])


def merge(cli, job, name, enriched, **extra):
  # A rejected row is a large share of these small files: publish anyway.
  extra["limits"] = {"max_rejected_fraction": 1, **extra.get("limits", {})}
  config = job.config(os.path.join(CORPUS, name), [{"path": enriched}],
                      EMAIL_KEY, **extra)
  return cli("run", config)


@pytest.mark.parametrize("name", sorted(MERGED))
def test_hostile_file_merges_with_exact_rejections(cli, job, enriched, name):
  ids, rejections = MERGED[name]
  code, _, err = merge(cli, job, name, enriched)
  assert code == 0, err
  header, rows = job.output()
  assert [r[0] for r in rows] == ids
  rejected = job.report("rejected.csv")
  assert {int(r["line"]): r["reason"] for r in rejected}.keys() == \
      rejections.keys()
  for r in rejected:
    assert r["reason"].startswith(rejections[int(r["line"])]), r["reason"]
    assert r["file"].endswith(name)
  stats = job.report("stats.json")
  assert stats["original"]["rows_read"] == len(ids) + len(rejections)
  assert stats["original"]["rows_written"] == len(ids)
  if name == "five_thousand_columns.csv":
    assert len(header) == 5001 and rows[0][-1] == "T1"  # 5000 + Title
  if name == "long_line_no_final_newline.csv":
    assert rows[1][2] == "L" * ((1 << 20) + 1000)
  if name == "one_megabyte_field.csv":
    assert rows[1][2] == "N" * (1 << 20)
  if name == "whitespace_only_keys.csv":
    # Blank keys match nothing, even each other; the rows are kept as read.
    assert [r[-1] for r in rows] == ["T1", "", "", ""]
    # A leading tab is one of the formula triggers: escaped for spreadsheets.
    assert rows[1][1] == "   " and rows[2][1] == "'\t"


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_hostile_file_is_a_clear_error(cli, job, enriched, name):
  code, out, err = merge(cli, job, name, enriched)
  assert code == 2
  assert err.strip() == f"crmsync: error: {os.path.join(CORPUS, name)}: " \
                        f"{ERRORS[name]}" or ERRORS[name] in err, err
  assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
  assert not job.shards()


def test_field_over_the_limit_is_rejected(cli, job, enriched):
  code, _, err = merge(cli, job, "one_megabyte_field.csv", enriched,
                       limits={"max_field_bytes": 100_000})
  assert code == 0, err
  assert [r[0] for r in job.output()[1]] == ["1", "3"]
  [r] = job.report("rejected.csv")
  assert r["line"] == "3" and r["reason"] == (
      "field 'Name' is over the limit of 100000 bytes "
      "(limits.max_field_bytes)")
  assert len(r["raw"]) < 300  # the report holds a head, not the megabyte


def test_record_over_the_row_limit_is_skipped_without_holding_it(
    cli, job, enriched, tmp_path, monkeypatch):
  """A stray quote makes one record of 200 lines; with small chunks the
  reader streams past it (never holding more than the limit) and resumes
  at the quote that closes it."""
  monkeypatch.setattr(csv_scan, "CHUNK_BYTES", 256)
  lines = [b"ID,Email,Name", b"1,u1@x.com,Name 1", b'2,"u2@x.com,Name 2']
  lines += [b"%d,u%d@x.com,Name %d" % (i, i, i) for i in range(3, 200)]
  lines += [b'200,u200@x.com",Name 200', b"201,u3@x.com,Name 201",
            b"202,u5@x.com,Name 202"]
  path = tmp_path / "stray.csv"
  path.write_bytes(b"\n".join(lines) + b"\n")
  config = job.config(str(path), [{"path": enriched}], EMAIL_KEY,
                      limits={"max_row_bytes": 1000,
                              "max_rejected_fraction": 1})
  code, _, err = cli("run", config)
  assert code == 0, err
  assert [r[0] for r in job.output()[1]] == ["1", "201", "202"]
  [r] = job.report("rejected.csv")
  assert r["line"] == "3"
  assert r["reason"].startswith("row is over the limit of 1000 bytes "
                                "(limits.max_row_bytes)")
  stats = job.report("stats.json")
  assert stats["original"]["rows_read"] == 4
  assert stats["original"]["rows_rejected"] == 1
