"""Work run ahead on a thread pool (transforms/ahead.py) keeps each
element's window and timestamp, whether its result comes out while later
elements are processed or when the bundle finishes."""

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import FixedWindows, TimestampedValue

from conftest import python_runner_pipeline, write_csv
from crmsync.transforms import (BuildIndex, EnrichedSpec, MatchKey, Merge,
                                MergeSpec, ReadCsv)


def test_merge_after_window_into_keeps_each_batch_in_its_window(tmp_path):
  n, batch = 60, 5
  crm = write_csv(tmp_path / "crm.csv", [["ID", "Email"]] + [
      [str(i), f"p{i}@example.com"] for i in range(n)])
  vendor = write_csv(tmp_path / "vendor.csv", [["Email", "Title"]] + [
      [f"p{i}@example.com", f"t{i}"] for i in range(0, n, 2)])
  spec = MergeSpec(original_header=("ID", "Email"),
                   keys=(MatchKey("email", ("Email",), ("email",)),))
  with python_runner_pipeline() as p:
    vendor_read = ReadCsv(str(vendor))
    index = (p | "ReadVendor" >> vendor_read).rows | BuildIndex(
        EnrichedSpec("vendor"), spec, vendor_read.header, vendor_read.files)
    # Each batch stamped with its first row's ID in seconds, windows of 10 s.
    windowed = ((p | "ReadCrm" >> ReadCsv(str(crm), batch_rows=batch)).rows
                | beam.Map(lambda b: TimestampedValue(
                    b, int(b.table.column("ID")[0].as_py())))
                | beam.WindowInto(FixedWindows(10)))
    merged = windowed | Merge(spec, ["vendor"], index)

    def placed(b, window=beam.DoFn.WindowParam,
               timestamp=beam.DoFn.TimestampParam):
      ids = b.table.column("ID").to_pylist()
      return [(int(window.start), int(timestamp), tuple(ids),
               tuple(b.table.column("Title").to_pylist()))]
    got = merged.merged | beam.FlatMap(placed)
    expected = []
    for first in range(0, n, batch):
      ids = tuple(str(i) for i in range(first, first + batch))
      expected.append((first // 10 * 10, first, ids, tuple(
          f"t{i}" if i % 2 == 0 else "" for i in range(first, first + batch))))
    assert_that(got, equal_to(expected))
    stats = merged.stats | "StatsWindow" >> beam.Map(
        lambda s, window=beam.DoFn.WindowParam: (int(window.start),
                                                  s["merged_rows"]))
    assert_that(stats, equal_to([(first // 10 * 10, batch)
                                 for first in range(0, n, batch)]),
                label="stats")
