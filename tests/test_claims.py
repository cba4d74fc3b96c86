"""The exact cascade's assignment (transforms/claims.py), through
`crmsync run` on both joins, on public examples."""

import numpy as np
import pytest

from conftest import write_csv
from crmsync.transforms.claims import Claims, FirstHits, decide_claims
from crmsync.transforms.spec import MatchKey

JOINS = ["broadcast", "partitioned"]

EMAIL = {"name": "email", "normalize": "email", "columns": ["Email"]}
PHONE = {"name": "phone", "normalize": "phone", "columns": ["Phone"]}
NAME_ZIP = {"name": "name_zip", "normalize": ["name", "name", "zip"],
            "columns": ["First", "Last", "Zip"]}


def _run(job, cli, tmp_path, join, crm, vendor, keys, keep):
  write_csv(tmp_path / "crm.csv", crm)
  write_csv(tmp_path / "vendor.csv", vendor)
  path = job.config(str(tmp_path / "crm.csv"), [{
      "path": str(tmp_path / "vendor.csv"), "name": "vendor",
      "keep": [keep]}], keys, join=join)
  code, _, err = cli("run", path, "--batch_rows=2")
  assert code == 0, err
  stats = job.report("stats.json")["enriched"]["vendor"]
  return ({r["ID"]: r[keep] for r in job.dicts()},
          stats["matches_refused_by_assignment"])


@pytest.mark.parametrize("join", JOINS)
def test_a_form_two_namesakes_share_by_name_and_zip_goes_to_neither(
    job, cli, tmp_path, join):
  """pseudopeople's sample town (benchmarks/sets/pseudopeople): the census
  has two Landon Smiths, at 1231 riverside dr (C536) and 8203 west farwell
  avenue (C1935), everyone in ZIP 00000; the W-2 F1361 is the second's.
  With name + ZIP the only key nothing tells them apart: the form goes to
  neither (before, to both), and both refusals are counted. Diana Kofron,
  alone in the town with her name, still gets hers."""
  header = ["ID", "First", "Last", "Street", "City", "Zip"]
  forms, refused = _run(job, cli, tmp_path, join, [
      header,
      ["C536", "Landon", "Smith", "1231 riverside dr", "Anytown", "00000"],
      ["C1", "Diana", "Kofron", "5112 145th st", "Anytown", "00000"],
      ["C1935", "Landon", "Smith", "8203 west farwell avenue", "Anytown",
       "00000"]], [
      header[1:] + ["Form"],
      ["Landon", "Smith", "8203 west farwell avenue", "Anytown", "00000",
       "F1361"],
      ["Diana", "Kofron", "5112 145th st", "Anytown", "00000", "F77"]],
      [NAME_ZIP], "Form")
  assert forms == {"C536": "", "C1": "F77", "C1935": ""}
  assert refused == 2


JOHN_SMITHS_CRM = [
    ["ID", "First", "Last", "Email", "Phone", "Zip"],
    ["P1", "John", "Smith", "john.smith@gmail.com", "0412 555 001", "2000"],
    ["P2", "John", "Smith", "jsmith77@outlook.com", "0412 555 002", "2000"],
    ["P3", "John", "Smith", "", "", "2000"],
]


@pytest.mark.parametrize("join", JOINS)
def test_two_john_smiths_each_get_their_own_line(job, cli, tmp_path, join):
  """jethro-pmm issue #835: an import file with two John Smiths, with
  different mobiles and emails, matching two John Smiths in the system by
  email and mobile, "may treat the John Smith lines as not matching
  anything". Each line goes to its own John Smith; the third John Smith at
  the same ZIP (no email, no mobile), whose name hits both lines, gets
  neither: they went to others by email."""
  crm = [r[:] for r in JOHN_SMITHS_CRM]
  forms, refused = _run(job, cli, tmp_path, join, crm, [
      ["First", "Last", "Email", "Phone", "Zip", "Line"],
      ["John", "Smith", "jsmith77@outlook.com", "0412 555 002", "2000",
       "line-2"],
      ["John", "Smith", "john.smith@gmail.com", "0412 555 001", "2000",
       "line-1"]],
      [EMAIL, PHONE, NAME_ZIP], "Line")
  assert forms == {"P1": "line-1", "P2": "line-2", "P3": ""}
  assert refused == 1


@pytest.mark.parametrize("join", JOINS)
def test_a_namesake_does_not_take_a_line_its_email_gave_another(
    job, cli, tmp_path, join):
  """The same John Smiths, with one line in the import: its email finds
  P1, and its name + ZIP P2 and P3, whose own first hit it is. It goes to
  P1 only."""
  forms, refused = _run(job, cli, tmp_path, join, JOHN_SMITHS_CRM, [
      ["First", "Last", "Email", "Phone", "Zip", "Line"],
      ["John", "Smith", "john.smith@gmail.com", "", "2000", "line-1"]],
      [EMAIL, PHONE, NAME_ZIP], "Line")
  assert forms == {"P1": "line-1", "P2": "", "P3": ""}
  assert refused == 2


@pytest.mark.parametrize("join", JOINS)
def test_a_spouse_behind_a_shared_inbox_still_gets_her_own_row(
    job, cli, tmp_path, join):
  """NPSP issue #1112: "husband and wife share the same email". The vendor
  file has John and Mary Fine at one inbox; the CRM has John with it and
  Mary without. John takes the inbox's rows (the duplicates policy); Mary's
  name + ZIP finds her own row, which John's claim on the inbox does not
  take from her."""
  forms, refused = _run(job, cli, tmp_path, join, [
      ["ID", "First", "Last", "Email", "Phone", "Zip"],
      ["F1", "John", "Fine", "thefines@comcast.net", "", "55401"],
      ["F2", "Mary", "Fine", "", "", "55401"]], [
      ["First", "Last", "Email", "Phone", "Zip", "Donor"],
      ["John", "Fine", "thefines@comcast.net", "", "55401", "D-1"],
      ["Mary", "Fine", "thefines@comcast.net", "", "55401", "D-2"]],
      [EMAIL, PHONE, NAME_ZIP], "Donor")
  assert forms["F2"] == "D-2"
  assert forms["F1"].startswith("D-1")
  assert refused == 0


def test_claims_of_an_email_are_not_ambiguous_but_of_a_name_are():
  """Two original rows sharing an email are one person entered twice: the
  vendor row goes to both; sharing only a name + ZIP, to neither."""
  keys = [MatchKey("email", ("Email",), ("email",)),
          MatchKey("name_zip", ("First", "Last", "Zip"),
                   ("name", "name", "zip"))]

  class Spec:
    pass
  spec = Spec()
  spec.keys = keys
  hits = [FirstHits("v", np.array([1, 2, 3, 4]), np.array([0, 0, 1, 1],
                                                          np.int8),
                    np.array([10, 10, 20, 20]), np.zeros(0, np.int64))]
  claims = decide_claims(hits, spec)["v"]
  one = np.ones(1, np.int64)
  assert claims.allowed(0, np.array([10]), one).tolist() == [True]
  assert claims.allowed(1, np.array([20]), one).tolist() == [False]
  assert claims.allowed(1, np.array([10]), one).tolist() == [False]
  assert claims.allowed(1, np.array([99]), one).tolist() == [True]
  assert isinstance(claims, Claims)
