"""The transforms composed in a user's own pipeline, as the README shows."""

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from conftest import python_runner_pipeline, write_csv
from crmsync.transforms import (BuildIndex, EnrichedSpec, MatchKey, Merge, MergeSpec,
                        ReadCsv)


def test_compose_read_index_merge(tmp_path):
  crm = write_csv(tmp_path / "crm.csv", [["ID", "Email", "Phone"],
                                         ["1", "john@old.com", ""],
                                         ["2", "jane@example.com", ""]])
  vendor = write_csv(tmp_path / "vendor.csv", [["Mail", "Mobile", "Type"],
                                               ["JANE@example.com",
                                                "555-123-4567", "mobile"]])
  with python_runner_pipeline() as p:
    original = p | "ReadCrm" >> ReadCsv(crm)
    enriched_read = ReadCsv(vendor)
    enriched = p | "ReadVendor" >> enriched_read
    spec = MergeSpec(original_header=("ID", "Email", "Phone"),
                     keys=(MatchKey("email", ("Email",), ("email",)),))
    source = EnrichedSpec("vendor", rename={"Mail": "Email",
                                            "Mobile": "Phone"})
    index = enriched.rows | BuildIndex(source, spec, enriched_read.header,
                                       enriched_read.files)
    merged = original.rows | Merge(spec, ["vendor"], index)
    rows = merged.merged | beam.FlatMap(
        lambda b: [(r["ID"], r["Phone"], r["Type"])
                   for r in b.table.to_pylist()])
    assert_that(rows, equal_to([("1", "", ""),
                                ("2", "555-123-4567", "mobile")]))


def test_merge_counts_in_beam_metrics_across_many_batches(tmp_path):
  """Batches merge on worker threads; every row still reaches the output
  once, in order, and Beam's counters count them all."""
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
