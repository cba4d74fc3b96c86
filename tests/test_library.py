"""The transforms composed in a user's own pipeline, as the README shows."""

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from conftest import python_runner_pipeline, write_csv
from transforms import (BuildIndex, EnrichedSpec, MatchKey, Merge, MergeSpec,
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
