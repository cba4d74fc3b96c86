"""Invalid values never overwrite valid ones (issue 14, kind 2)."""

import os
import shutil

import pyarrow as pa
import pytest

from conftest import read_csv
from transforms.validity import invalid_reasons

FIELD = os.path.join(os.path.dirname(__file__), "data", "field")


@pytest.mark.parametrize("kind, value, reason", [
    ("phone", "5.55201E+09", "scientific notation: a spreadsheet rounded "
                             "the number, its digits are lost"),
    ("phone", "#N/A", "not a phone number"),
    ("phone", "555-201-3344", None),
    ("phone", "+1 555 201 3344, +1 555 201 4455", None),
    ("phone", "+1 555 201 3344, call me", "not a phone number"),
    ("zip", "2134.5", "a number with decimals, not a postal code"),
    ("zip", "2134.0", None),
    ("zip", "N/A", "not a postal code"),
    ("email", "n/a", "not an email address"),
    ("email", "Lopez, Ana <ana@example.com>", None),
    ("email", "a@x.com; b@y.org", None),
    ("url", "see notes", "not a web address"),
    ("text", "anything at all", None),
    ("phone", "", None),
    ("phone", "   ", None),
])
def test_reasons(kind, value, reason):
  found = invalid_reasons(pa.array([value, "555-201-9988"]), kind)
  got = None if found is None else found[0].as_py()
  assert got == reason


@pytest.mark.parametrize("join", ["broadcast", "partitioned"])
def test_write_invalid_writes_them_and_still_lists_them(join, tmp_path,
                                                        monkeypatch, cli):
  folder = tmp_path / "case"
  shutil.copytree(os.path.join(FIELD, "phone_excel_scientific_notation"),
                  folder)
  monkeypatch.chdir(folder)
  code, _, err = cli("run", "job.yaml", "-q", "--set", f"join={join}",
                     "--set", "conflicts.write_invalid=true")
  assert code == 0, err
  rows = read_csv(folder / "out" / "merged-00000-of-00001.csv")
  phones = {r[0]: r[4] for r in rows[1:]}
  assert phones == {"1": "4.47900E+11", "2": "5.55201E+09",
                    "3": "+1 555 201 7766"}
  listed = read_csv(folder / "out" / "reports" / "invalid_values.csv")
  assert listed[0] == ["original_file", "original_line", "column", "value",
                       "source", "enriched_file", "enriched_line", "reason"]
  assert [(r[1], r[2], r[3], r[4], r[6]) for r in listed[1:]] == [
      ("2", "Phone", "4.47900E+11", "vendor", "2"),
      ("3", "Phone", "5.55201E+09", "vendor", "3")]
  assert listed[1][5].endswith("vendor.csv")
