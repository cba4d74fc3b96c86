"""ReadCsv (transforms/csv_io.py): rows and rejections apart."""

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.util import assert_that, equal_to

from conftest import python_runner_pipeline
from crmsync.transforms.csv_io import ReadCsv

DATA = (b"ID,Name\n1,a\n2,b\n3\n4,\"d\n\"\n5,e,x\n6,f\n")  # 3 and 5 rejected


def _file(tmp_path, data, name="in.csv"):
  path = tmp_path / name
  path.write_bytes(data)
  return str(path)


def test_read_csv_transform_splits_rows_and_rejects(tmp_path):
  path = _file(tmp_path, DATA)
  with python_runner_pipeline() as p:
    result = p | ReadCsv(path, source_name="crm", batch_rows=2)
    rows = result.rows | beam.FlatMap(
        lambda b: [r["ID"] for r in b.table.to_pylist()])
    rejected = result.rejected | beam.FlatMap(lambda b: [
        (r["source"], r["line"]) for r in b.to_pylist()])
    assert_that(rows, equal_to(["1", "2", "4", "6"]), label="rows")
    assert_that(rejected, equal_to([("crm", 4), ("crm", 7)]),
                label="rejected")
    # Each batch's rows, counted by the reader (batches of up to 2 rows):
    # the job's books take these, not a second pass over the rows.
    total = result.counts | beam.CombineGlobally(sum)
    assert_that(total, equal_to([4]), label="counts")


def test_read_csv_counts_rows_and_rejections_once(tmp_path):
  """Counted where the elements are split apart (the source itself counts
  nothing, as the partitioned join re-reads it on thread pools)."""
  p = python_runner_pipeline()
  _ = p | ReadCsv(_file(tmp_path, DATA), source_name="crm", batch_rows=2)
  result = p.run()
  result.wait_until_finish()
  counters = result.metrics().query(
      MetricsFilter().with_namespace("crmsync"))["counters"]
  assert {c.key.metric.name: c.committed for c in counters} == {
      "rows_read[crm]": 4, "rows_rejected": 2}

