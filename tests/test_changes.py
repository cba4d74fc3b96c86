"""The changes and undo files (output.changes, transforms/changes.py),
through `crmsync run` on both joins."""

import csv
import glob
import os

import pytest

from conftest import write_csv
from crmsync.pipelines.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "demo.yaml")
DEMO = os.path.join(ROOT, "data", "demo")
JOINS = ["broadcast", "partitioned"]


def _files(prefix):
  """Header and rows of the shards of `prefix`, in order."""
  header, rows = None, []
  for path in sorted(glob.glob(f"{prefix}-[0-9]*-of-*.csv")):
    with open(path, newline="", encoding="utf-8") as f:
      data = list(csv.reader(f))
    header, rows = data[0], rows + data[1:]
  return header, rows


def _small(job, tmp_path, crm, join):
  write_csv(tmp_path / "crm.csv", [
      ["Id", "Email", "Phone", "Title"],
      ["003A1", "ann@x.com", "", ""],
      ["003A2", "bob@y.com", "555-201-3344", "VP"],
      ["003A3", "cy@z.com", "", "CEO"]])
  write_csv(tmp_path / "vendor.csv", [
      ["Email", "Phone", "Title"],
      ["ann@x.com", "", "CFO"],
      ["bob@y.com", "555-999-0000", "VP"],
      ["dee@w.com", "555-888-0000", "CTO"]])
  path = job.config(str(tmp_path / "crm.csv"), [{
      "path": str(tmp_path / "vendor.csv"), "name": "v",
      "keep": ["Phone", "Title"]}],
      [{"name": "email", "normalize": "email", "columns": ["Email"]}],
      join=join)
  return path, ["--set=output.changes.id_columns=[Id]",
                f"--set=output.crm={crm}"]


@pytest.mark.parametrize("join", JOINS)
def test_changes_and_undo_rows_for_salesforce(job, cli, tmp_path, join):
  """Ann's blank Title is filled: her row is the only change (Bob's Phone
  conflicts and fill_empty keeps his; Cy has no match). The changes file
  has her Id and the new Title, the Phone blank (Data Loader leaves a field
  with a blank cell as it is); the undo file sets the Title back to null
  with #N/A, Data Loader's null."""
  path, args = _small(job, tmp_path, "salesforce", join)
  code, _, err = cli("run", path, *args)
  assert code == 0, err
  assert _files(job.prefix + "-changes") == (
      ["Id", "Phone", "Title"], [["003A1", "", "CFO"]])
  assert _files(job.prefix + "-undo") == (
      ["Id", "Phone", "Title"], [["003A1", "", "#N/A"]])
  assert job.report("stats.json")["changes"] == {
      "rows": 1, "cells": 1, "undo_cells_not_clearable": 0}


def test_hubspot_cannot_clear_a_filled_cell_and_says_so(job, cli, tmp_path):
  """HubSpot's importer leaves a property as it is for a blank cell and has
  no value that clears one: the undo cell stays blank and is counted."""
  path, args = _small(job, tmp_path, "hubspot", "broadcast")
  code, _, err = cli("run", path, *args)
  assert code == 0, err
  assert _files(job.prefix + "-undo") == (
      ["Id", "Phone", "Title"], [["003A1", "", ""]])
  assert job.report("stats.json")["changes"][
      "undo_cells_not_clearable"] == 1


def _import(records, header, rows, key, clear):
  """An update import as a CRM applies it: by `key`, a blank cell leaves
  the field as it is, `clear` (if any) empties it, any other value is
  written; a column the records lack is created."""
  for row in rows:
    record = records[row[header.index(key)]]
    for column, value in zip(header, row):
      if column == key or value == "":
        continue
      record[column] = "" if value == clear else value


@pytest.mark.parametrize("join", JOINS)
def test_the_demo_round_trip_merge_import_undo(tmp_path, join):
  """The demo merged with changes for Salesforce: importing the changes
  into the CRM export gives the merged output's values; importing the
  undo file then gives back the export as it was (every column a source
  added is empty again)."""
  out = str(tmp_path / "out")
  assert main(["run", CONFIG, "--quiet", f"--set=join={join}",
               f"--set=output.path={out}/merged",
               f"--set=output.reports={out}/reports",
               "--set=output.changes.id_columns=[ID]",
               "--set=output.crm=salesforce"]) == 0
  with open(os.path.join(DEMO, "crm_export.csv"), newline="",
            encoding="utf-8") as f:
    export = list(csv.DictReader(f))
  crm = {r["ID"]: dict(r) for r in export}
  merged_header, merged = _files(f"{out}/merged")
  header, changes = _files(f"{out}/merged-changes")
  _import(crm, header, changes, "ID", "#N/A")
  for row in merged:
    record = dict(zip(merged_header, row))
    assert {c: crm[record["ID"]].get(c, "") for c in header} == {
        c: record[c] for c in header}
  header, undo = _files(f"{out}/merged-undo")
  assert len(undo) == len(changes) > 1000
  _import(crm, header, undo, "ID", "#N/A")
  added = set(header) - set(export[0])
  assert [{c: v for c, v in r.items() if c not in added or v}
          for r in crm.values()] == export
