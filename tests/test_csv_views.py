"""Excel workbooks and Parquet files as inputs (transforms/csv_views.py),
through `crmsync run`."""

import csv
import os

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import files_in, write_csv
from crmsync.pipelines.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "data", "demo")
CONFIG = os.path.join(ROOT, "configs", "demo.yaml")


def _rows(name):
  with open(os.path.join(DEMO, name), newline="", encoding="utf-8") as f:
    return list(csv.reader(f))


def _run(out, *args):
  assert main(["run", CONFIG, "--quiet", f"--set=output.path={out}/merged",
               f"--set=output.reports={out}/reports", *args]) == 0
  return {n: b for n, b in files_in(out, os.path.join(out, "reports"))
          .items() if n.startswith("merged-")}


@pytest.mark.parametrize("join", ["broadcast", "partitioned"])
def test_a_workbook_and_a_parquet_file_merge_as_the_csv_files(tmp_path,
                                                               join):
  """The demo's CRM export as the "Export" sheet of a workbook whose first
  sheet is something else (`sheet:`), and its firmographic vendor file as
  Parquet in row groups of 1,000: the same shards, byte for byte, as
  from the CSV files."""
  book = openpyxl.Workbook()
  book.active.title = "Read me"
  book.active.append(["exported from the CRM on Monday"])
  export = book.create_sheet("Export")
  for row in _rows("crm_export.csv"):
    export.append(row)
  book.save(tmp_path / "crm.xlsx")
  firmo = _rows("enriched_firmographic.csv")
  pq.write_table(pa.table({h: [r[i] for r in firmo[1:]]
                           for i, h in enumerate(firmo[0])}),
                 tmp_path / "firmo.parquet", row_group_size=1000)
  plain = _run(str(tmp_path / "plain"), f"--set=join={join}")
  views = _run(str(tmp_path / "views"), f"--set=join={join}",
               f"--set=original.path={tmp_path}/crm.xlsx",
               "--set=original.sheet=Export",
               f"--set=enriched.2.path={tmp_path}/firmo.parquet")
  assert views == plain


def test_numbers_a_spreadsheet_made_of_zips_and_phones_still_match(
    job, cli, tmp_path):
  """paws-data-pipeline #300: a Salesforce contact export saved through
  Excel has New Jersey ZIPs as numbers (08003 is 8003); opencart-excel-
  export #4: phones stored as number cells. The cells read as Excel shows
  them (8003, 5552013344, no `.0`), so the ZIP key restores the zero and
  the phone key finds "(555) 201-3344"."""
  book = openpyxl.Workbook()
  book.active.append(["Id", "First", "Last", "Phone", "Zip"])
  book.active.append(["003A1", "Maria", "Lopez", None, 8003])
  book.active.append(["003A2", "Sam", "Reed", 5552013344, 19104])
  book.save(tmp_path / "contacts.xlsx")
  write_csv(tmp_path / "vendor.csv", [
      ["First", "Last", "Phone", "Zip", "Title"],
      ["Maria", "Lopez", "", "08003", "CFO"],
      ["", "", "(555) 201-3344", "", "CTO"]])
  path = job.config(str(tmp_path / "contacts.xlsx"), [{
      "path": str(tmp_path / "vendor.csv"), "name": "v", "keep": ["Title"]}],
      [{"name": "phone", "normalize": "phone", "columns": ["Phone"]},
       {"name": "name_zip", "normalize": ["name", "name", "zip"],
        "columns": ["First", "Last", "Zip"]}])
  code, _, err = cli("run", path, "--set=match.phone_region=US")
  assert code == 0, err
  assert [(r["Id"], r["Zip"], r["Phone"], r["Title"]) for r in job.dicts()
          ] == [("003A1", "8003", "", "CFO"),
                ("003A2", "19104", "5552013344", "CTO")]


def test_a_missing_sheet_is_a_one_line_error(cli, tmp_path):
  book = openpyxl.Workbook()
  book.active.title = "Contacts"
  book.active.append(["ID", "Email"])
  book.save(tmp_path / "crm.xlsx")
  code, _, err = cli("run", CONFIG, f"--set=original.path={tmp_path}/crm.xlsx",
                     "--set=original.sheet=Export",
                     f"--set=output.path={tmp_path}/out/merged")
  assert code == 2
  assert err.strip().splitlines() == [
      f"crmsync: error: {tmp_path}/crm.xlsx: no sheet 'Export' (sheets: "
      f"Contacts)"]
