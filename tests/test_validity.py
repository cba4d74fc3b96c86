"""Invalid values never overwrite valid ones (issue 14, kind 2)."""

import os
import shutil

import pyarrow as pa
import pytest

from conftest import read_csv
from crmsync.transforms.multi_value import split_cells
from crmsync.transforms.validity import check, invalid_reasons, restore

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


@pytest.mark.parametrize("kind, values, written", [
    ("zip", ["2134.0", "7030.0", "2134", "501.0", "02134-1234", "SW1A 1AA",
             "2134.5"],
     ["02134", "07030", "02134", "00501", "02134-1234", "SW1A 1AA",
      "2134.5"]),
    ("phone", ["5552013344.0", "15552019988.0", "5.552013344E+09",
               "5.55201E+09", "555.201.3344", "(555) 201-3344 x12"],
     ["5552013344", "15552019988", "5552013344", "5.55201E+09",
      "555.201.3344", "(555) 201-3344 x12"]),
    ("email", ["2134.0"], ["2134.0"]),
])
def test_restore_writes_what_a_spreadsheet_mangled_as_it_was(kind, values,
                                                             written):
  assert restore(pa.array(values), kind).to_pylist() == written


def test_a_cell_of_separators_only_is_not_a_value():
  reasons, _ = check(pa.array([", ;", " | ", "555-201-3344"]), "phone")
  assert reasons.to_pylist() == ["not a phone number"] * 2 + [None]


@pytest.mark.parametrize("cell, pieces", [
    ("Retail, Software", ["Retail", "Software"]),
    ("ana@x.com; n/a", ["ana@x.com", "n/a"]),
    ("Lopez, Ana <ana@x.com>", ["Lopez, Ana <ana@x.com>"]),
    ('"Ng, Ben" <ben@x.org>, cy@x.com', ['"Ng, Ben" <ben@x.org>',
                                         "cy@x.com"]),
    ("Lopez, Ana <a@x.com>; Ng, Ben <b@x.org>",
     ["Lopez, Ana <a@x.com>", "Ng, Ben <b@x.org>"]),
    ("555-201-3344;ext=12, 555-201-4455", ["555-201-3344 ext=12",
                                           "555-201-4455"]),
])
def test_display_names_and_extensions_stay_with_their_value(cell, pieces):
  assert split_cells(pa.array([cell])).to_pylist() == [pieces]
