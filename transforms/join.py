"""What both joins share: a source's match on a batch, and the counting of
merged batches.
"""

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.metrics import Metrics

from crmsync.transforms import confirm
from crmsync.transforms.columns import FILE_COL, LINE_COL, OFFSET_COL
from crmsync.transforms.progress import Progress
from crmsync.transforms.rows import RowBatch
from crmsync.transforms.spec import MergeSpec


class SourceMatch:
  """What one source's cascade gave each row of a batch: the row of the
  source that matched (`hit`), the cascade position of the key (`how`, -1:
  none) and the score (1 for an exact key). Both joins fill it."""

  def __init__(self, n: int):
    self.hit = np.full(n, -1, np.int64)
    self.how = np.full(n, -1, np.int64)
    self.score = np.full(n, np.nan)
    self.rejected = 0

  def accept(self, batch: RowBatch, k: int, key, rows, found, scores,
             hits: pa.Table, source: str, files, spec: MergeSpec):
    """Takes the hits of key `k` for rows no earlier key matched, unless
    the key's confirming columns reject them (reported, and the row stays
    free for the next key). `hits`: the source's rows that hit (with
    FILE_COL, LINE_COL and the key's columns), aligned with `rows`."""
    free = self.how[rows] < 0
    rows, found, scores = rows[free], found[free], scores[free]
    if key.confirm and rows.size:
      hits = hits.filter(pa.array(free))
      bad, confirmed = confirm.rejected(key, spec.phone_region, batch.table,
                                        rows, hits)
      if bad.any():
        self.rejected += int(bad.sum())
        yield beam.pvalue.TaggedOutput("rejected_matches",
                                       confirm.rejected_batch(
            batch, rows[bad], source, key, confirmed[bad],
            hits.filter(pa.array(bad)), files, FILE_COL, OFFSET_COL,
            LINE_COL))
        rows, found, scores = rows[~bad], found[~bad], scores[~bad]
    self.hit[rows] = found
    self.how[rows] = k
    self.score[rows] = scores


def count_outputs(outputs, progress: Progress):
  """Passes a merged batch's outputs on, counting them in Beam's metrics
  and the progress line (on the runner's thread: see transforms/ahead.py)."""
  for output in outputs:
    if isinstance(output, beam.pvalue.TaggedOutput) and output.tag == "stats":
      stats = output.value
      progress.add(stats["merged_rows"])
      for name, n in (("rows_merged", stats["merged_rows"]),
                      ("rows_matched", stats["matched_any"]),
                      ("conflicts", sum(stats["conflicts"].values())),
                      ("invalid_values",
                       sum(stats["invalid_values"].values())),
                      ("matches_rejected_by_confirm",
                       sum(stats["rejected_by_confirm"].values()))):
        if n:
          Metrics.counter("crmsync", name).inc(n)
    yield output
