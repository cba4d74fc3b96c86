"""The transforms composed in a user's own pipeline, as the README shows:
both joins keep one contract (transforms/join.py)."""

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from conftest import python_runner_pipeline, write_csv
from crmsync.transforms import (BroadcastMerge, BuildIndex, EnrichedSpec,
                                JoinResult, JoinSource, MatchKey, Merge,
                                MergeSpec, PartitionedMerge, ReadCsv)


def _inputs(tmp_path):
  crm = write_csv(tmp_path / "crm.csv", [["ID", "Email", "Phone"],
                                         ["1", "john@old.com", ""],
                                         ["2", "jane@example.com", ""]])
  vendor = write_csv(tmp_path / "vendor.csv", [
      ["Mail", "Mobile", "Type"],
      ["JANE@example.com", "555-123-4567", "mobile"],
      ["nobody@example.com", "555-000-0000", "landline"]])
  return str(crm), str(vendor)


@pytest.mark.parametrize("join", [BroadcastMerge, PartitionedMerge])
def test_the_readme_example_with_either_join(tmp_path, monkeypatch, join):
  monkeypatch.chdir(tmp_path)
  _inputs(tmp_path)
  # The README's example, as written there (on this test's runner).
  crm_read, vendor_read = ReadCsv("crm.csv"), ReadCsv("vendor.csv")
  spec = MergeSpec(original_header=tuple(crm_read.header),
                   keys=(MatchKey("email", ("Email",), ("email",)),))
  with python_runner_pipeline() as p:
    crm = p | "ReadCrm" >> crm_read
    vendor = p | "ReadVendor" >> vendor_read
    sources = [JoinSource(EnrichedSpec("vendor", rename={
        "Mail": "Email", "Mobile": "Phone"}), vendor_read.header,
        vendor_read.files, vendor.rows)]
    result = crm.rows | join(spec, sources)
    rows = result.merged | beam.FlatMap(
        lambda batch, header: batch.table.select(header).to_pylist(),
        beam.pvalue.AsSingleton(result.header))
    # What it gives.
    assert isinstance(result, JoinResult)
    assert_that(rows, equal_to([
        {"ID": "1", "Email": "john@old.com", "Phone": "", "Type": ""},
        {"ID": "2", "Email": "jane@example.com", "Phone": "555-123-4567",
         "Type": "mobile"}]))
    assert_that(result.header, equal_to([["ID", "Email", "Phone", "Type"]]),
                label="header")
    books = result.accounts | beam.Map(
        lambda a: (a.source, a.rows_read, a.rows_used,
                   a.unmatched.column("Email").to_pylist()))
    assert_that(books, equal_to([("vendor", 2, 1, ["nobody@example.com"])]),
                label="accounts")
    conflicts = result.conflicts | beam.Map(lambda b: b.num_rows)
    assert_that(conflicts, equal_to([]), label="conflicts")


def test_merge_counts_in_beam_metrics_across_many_batches(tmp_path):
  """The broadcast join's steps used alone. Batches merge on worker
  threads; every row still reaches the output once, in order, and Beam's
  counters count them all."""
  n = 200
  crm = write_csv(tmp_path / "crm.csv", [["ID", "Email"]] + [
      [str(i), f"person{i}@example.com"] for i in range(n)])
  vendor = write_csv(tmp_path / "vendor.csv", [["Email", "Title"]] + [
      [f"PERSON{i}@example.com", f"title {i}"] for i in range(0, n, 3)])
  spec = MergeSpec(original_header=("ID", "Email"),
                   keys=(MatchKey("email", ("Email",), ("email",)),))
  p = python_runner_pipeline()
  original = p | "ReadCrm" >> ReadCsv(crm, batch_rows=7)
  enriched_read = ReadCsv(vendor, batch_rows=7)
  index = (p | "ReadVendor" >> enriched_read).rows | BuildIndex(
      EnrichedSpec("vendor"), spec, enriched_read.header,
      enriched_read.files, folder=str(tmp_path / "indexes"))
  merged = original.rows | Merge(spec, ["vendor"], index)
  rows = merged.merged | beam.FlatMap(
      lambda b: [(r["ID"], r["Title"]) for r in b.table.to_pylist()])
  assert_that(rows, equal_to([
      (str(i), f"title {i}" if i % 3 == 0 else "") for i in range(n)]))
  result = p.run()
  result.wait_until_finish()
  counters = {c.key.metric.name: c.committed
              for c in result.metrics().query()["counters"]}
  assert counters["rows_merged"] == n
  assert counters["rows_matched"] == len(range(0, n, 3))


@pytest.mark.parametrize("join", [BroadcastMerge, PartitionedMerge])
def test_a_join_refuses_windowed_original_rows(tmp_path, join):
  """Its indexes and shuffles pair rows across whole files: windowed rows
  would meet nothing, so it says so when the pipeline is built."""
  from apache_beam.transforms.window import FixedWindows
  crm_path, vendor_path = _inputs(tmp_path)
  spec = MergeSpec(original_header=("ID", "Email", "Phone"),
                   keys=(MatchKey("email", ("Email",), ("email",)),))
  p = python_runner_pipeline()
  vendor_read = ReadCsv(vendor_path)
  sources = [JoinSource(EnrichedSpec("vendor"), vendor_read.header,
                        vendor_read.files, (p | vendor_read).rows)]
  windowed = (p | "ReadCrm" >> ReadCsv(crm_path)).rows | beam.WindowInto(
      FixedWindows(60))
  with pytest.raises(ValueError, match="original rows are windowed"):
    _ = windowed | join(spec, sources)
