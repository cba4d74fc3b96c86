"""Gathering large elements into one list on the DirectRunner:
beam.combiners.ToList against transforms/gather.py's GatherAll.

  python benchmarks/gather.py [--elements 67] [--rows 44000]

Each element is shaped like one batch's candidate pairs (a few numpy
arrays); prints the wall time of each way, and their ratio.
"""

import argparse
import time
from dataclasses import dataclass

import apache_beam as beam
import numpy as np
from apache_beam.options.pipeline_options import PipelineOptions

from crmsync.transforms.gather import GatherAll


@dataclass
class Pairs:
  ids: np.ndarray
  levels: np.ndarray
  tf: np.ndarray


def _pairs(rows: int) -> Pairs:
  return Pairs(np.arange(rows * 7, dtype=np.int64),
               np.zeros((6, rows), np.int8), np.zeros((6, rows), np.float32))


def run(gather, elements: int, rows: int) -> float:
  start = time.perf_counter()
  with beam.Pipeline(options=PipelineOptions(["--direct_num_workers=1"])) as p:
    _ = (p
         | beam.Create(list(range(elements)))
         | beam.Reshuffle()
         | "Make" >> beam.Map(lambda _: _pairs(rows))
         | gather
         | "Count" >> beam.Map(lambda batch: sum(b.ids.size for b in batch)))
  return time.perf_counter() - start


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--elements", type=int, default=67)
  parser.add_argument("--rows", type=int, default=44_000)
  args = parser.parse_args()
  to_list = run(beam.combiners.ToList(), args.elements, args.rows)
  gather = run(GatherAll(), args.elements, args.rows)
  print(f"ToList     {to_list:6.2f} s")
  print(f"GatherAll  {gather:6.2f} s   ({gather / to_list:.2f}x ToList)")


if __name__ == "__main__":
  main()
