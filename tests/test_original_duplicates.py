"""reports/original_duplicates.csv (transforms/original_duplicates.py),
through `crmsync run` on both joins."""

import pytest

from conftest import write_csv


@pytest.mark.parametrize("join", ["broadcast", "partitioned"])
def test_rows_sharing_an_email_or_a_phone_with_its_extension(job, cli,
                                                             tmp_path, join):
  """tutanota #4186: "John Smith" and "John" entered with one email are
  one person twice. Two colleagues behind one switchboard with their own
  extensions are not a group; two rows with the same number and extension
  are. Every row of a group gets the same enrichment."""
  write_csv(tmp_path / "crm.csv", [
      ["ID", "First", "Last", "Email", "Phone"],
      ["1", "John", "Smith", "John.Smith@example.com", ""],
      ["2", "Ann", "Lee", "ann@example.com", "555-201-3344 x12"],
      ["3", "John", "", "john.smith@example.com ", ""],
      ["4", "Bo", "Ng", "bo@example.com", "555-201-3344 x47"],
      ["5", "Ann", "Lee", "", "(555) 201-3344 ext. 12"]])
  write_csv(tmp_path / "vendor.csv", [["Email", "Title"],
                                      ["john.smith@example.com", "CFO"]])
  path = job.config(str(tmp_path / "crm.csv"), [{
      "path": str(tmp_path / "vendor.csv"), "name": "v", "keep": ["Title"]}],
      [{"name": "email", "normalize": "email", "columns": ["Email"]},
       {"name": "phone", "normalize": "phone", "columns": ["Phone"]}],
      join=join)
  code, _, err = cli("run", path, "--batch_rows=2",
                     "--set=output.original_duplicates=true")
  assert code == 0, err
  crm = str(tmp_path / "crm.csv")
  assert job.report("original_duplicates.csv") == [
      {"key": "email", "group": "1", "group_rows": "2",
       "original_file": crm, "original_line": "2"},
      {"key": "email", "group": "1", "group_rows": "2",
       "original_file": crm, "original_line": "4"},
      {"key": "phone", "group": "1", "group_rows": "2",
       "original_file": crm, "original_line": "3"},
      {"key": "phone", "group": "1", "group_rows": "2",
       "original_file": crm, "original_line": "6"}]
  assert job.report("stats.json")["original_duplicates"] == {
      "email": {"groups": 1, "rows": 2}, "phone": {"groups": 1, "rows": 2}}
  assert [r["Title"] for r in job.dicts()] == ["CFO", "", "CFO", "", ""]
