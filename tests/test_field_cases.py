"""Files as users really have them: each folder of tests/data/field is a tiny
job rebuilt from a public bug report (tests/data/field/README.md names the
source), run through `crmsync run` on both joins, with what a user expects
of it in its expected.yaml."""

import csv
import json
import os
import shutil

import pytest
import yaml

FIELD = os.path.join(os.path.dirname(__file__), "data", "field")
CASES = sorted(c for c in os.listdir(FIELD)
               if os.path.isfile(os.path.join(FIELD, c, "expected.yaml")))
# Also on the partitioned join (its answers carry the values and their
# lines, it re-reads original batches): the handed cases and one or more
# per kind of fault, to keep the suite short.
PARTITIONED = {
    "zip_float_from_pandas", "email_idn_domain",
    "email_outlook_last_first_display_name",
    "phone_extensions_shared_switchboard", "backslash_escaped_quotes",
    "trailing_delimiter_rows", "phone_excel_scientific_notation",
    "vendor_placeholders_never_fill_or_replace", "utf16_tab_unicode_text",
    "excel_sep_line_semicolons", "stray_quote_swallows_rest_of_file",
    "names_polish_nordic_ascii", "zip_plus4_not_a_conflict",
    "shared_family_email_goes_to_the_named_person"}
# Also scored (match.scoring: true, transforms/scoring.py): one case per
# kind of matching fault (ZIP, email, phone, name; to keep the suite
# short), whose expectations hold whichever way pairs are decided.
SCORED = {"zip_float_from_pandas", "email_outlook_last_first_display_name",
          "phone_extensions_shared_switchboard",
          "names_turkish_dotted_dotless_i"}
# What crmsync still gets wrong (tests/data/field/README.md says how): each
# run must fail until it is fixed (strict), then this entry goes.
KNOWN_WRONG: dict = {}  # case -> why it fails today (a strict xfail)
RUNS = [(case, "broadcast") for case in CASES] + [
    (case, "partitioned") for case in CASES if case in PARTITIONED] + [
    (case, "scored") for case in sorted(SCORED)]


def _lookup(doc, dotted: str):
  for part in dotted.split("."):
    doc = doc[part]
  return doc


def _rows(folder: str, delimiter: str):
  """The merged shards' rows by ID, as dicts."""
  out = os.path.join(folder, "out")
  shards = sorted(f for f in os.listdir(out) if f.startswith("merged-"))
  rows = {}
  for name in shards:
    with open(os.path.join(out, name), newline="", encoding="utf-8") as f:
      for row in csv.DictReader(f, delimiter=delimiter):
        rows[row["ID"]] = row
  return rows


def _report_rows(folder: str, name: str) -> int:
  with open(os.path.join(folder, "out", "reports", name), newline="",
            encoding="utf-8") as f:
    return len(list(csv.reader(f))) - 1


def _delimiter(folder: str) -> str:
  """The output's delimiter (the original's, whatever told it: the config,
  a sep= line or detection): the one that splits its header most."""
  out = os.path.join(folder, "out")
  first = sorted(f for f in os.listdir(out) if f.startswith("merged-"))[0]
  with open(os.path.join(out, first), encoding="utf-8") as f:
    header = f.readline()
  return max(",;\t|", key=header.count)


def test_every_partitioned_and_scored_case_exists():
  assert PARTITIONED <= set(CASES)
  assert SCORED <= set(CASES)
  assert set(KNOWN_WRONG) <= set(CASES)


@pytest.mark.parametrize("case, join", [
    # (an assertion on the output: a crash or a bad exit is no xfail)
    pytest.param(case, join, marks=pytest.mark.xfail(
        reason=KNOWN_WRONG[case], strict=True, raises=AssertionError))
    if case in KNOWN_WRONG
    else (case, join) for case, join in RUNS])
def test_field_case(case, join, tmp_path, monkeypatch, cli):
  folder = str(tmp_path / case)
  shutil.copytree(os.path.join(FIELD, case), folder)
  with open(os.path.join(folder, "expected.yaml"), encoding="utf-8") as f:
    expected = yaml.safe_load(f)
  monkeypatch.chdir(folder)
  how = (["--set", "match.scoring=true"] if join == "scored" else
         ["--set", f"join={join}", "--set", "join_partitions=3"])
  code, _, err = cli("run", "job.yaml", "--quiet", *how)
  assert code == expected.get("exit_code", 0), err
  if code != 0:
    assert len(err.strip().splitlines()) == 1, err  # one line, no traceback
    assert not os.path.exists(os.path.join(folder, "out", "reports"))
    return
  rows = _rows(folder, _delimiter(folder))
  for row_id, cells in (expected.get("rows") or {}).items():
    assert row_id in rows, f"ID {row_id} is not in the output"
    for column, value in cells.items():
      assert rows[row_id][column] == str(value), (row_id, column)
  with open(os.path.join(folder, "out", "reports", "stats.json")) as f:
    stats = json.load(f)
  for path, value in (expected.get("stats") or {}).items():
    assert _lookup(stats, path) == value, path
  for name, least in (expected.get("report_rows") or {}).items():
    assert _report_rows(folder, name) >= least, name
  for name, exact in (expected.get("report_rows_exact") or {}).items():
    assert _report_rows(folder, name) == exact, name
