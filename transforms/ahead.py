"""Work run ahead on background threads, its results taken in order.

Beam hands a DoFn one element at a time. Merging and encoding a batch are
mostly Arrow and numpy kernels, which release the GIL, so a DoFn that
submits each batch to a small thread pool and yields the results as they
finish (in submission order) uses the machine's other cores. Beam's metric
counters are bound to the runner's thread: the work must not touch them;
the DoFn counts what it yields.
"""

import collections
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from crmsync.transforms import worker


def default_threads() -> int:
  """One per core this process may use, at most 4."""
  try:
    cores = len(os.sched_getaffinity(0))  # a container's CPU set
  except AttributeError:  # not on Linux
    cores = os.cpu_count() or 1
  return max(1, min(4, cores))


class RunAhead:
  """`submit(fn, *args)` runs fn on a pool of `threads` and yields the
  results that are ready, in order, keeping at most `depth` (default:
  `threads`) in flight; `drain()` yields the rest."""

  def __init__(self, threads: int, name: str, depth: int = 0):
    self._depth = depth or threads
    self._pool = ThreadPoolExecutor(threads, thread_name_prefix=name)
    self._pending = collections.deque()

  def submit(self, fn: Callable, *args) -> Iterator:
    self._pending.append(self._pool.submit(fn, *args))
    while len(self._pending) > self._depth or (
        self._pending and self._pending[0].done()):
      yield self._pending.popleft().result()

  def drain(self) -> Iterator:
    while self._pending:
      yield self._pending.popleft().result()

  def shutdown(self):
    self._pool.shutdown(cancel_futures=True)


def windowed(output):
  """An output of finish_bundle (global window), tagged or not."""
  if isinstance(output, TaggedOutput):
    return TaggedOutput(output.tag, windowed(output.value))
  return WindowedValue(output, MIN_TIMESTAMP, [GlobalWindow()])


class AheadDoFn(beam.DoFn):
  """A DoFn whose work on an element runs ahead on a thread pool: `work`
  returns the element's outputs (off the runner's thread: no metrics
  there), `emit` passes them on (on the runner's thread, in input order).
  `threads`: the pool (default: one per core), `depth`: the elements in
  flight (default: `threads`).

  A grouped element's values may be read lazily through the runner's state
  API, which is bound to the runner's thread: `prepare` (on that thread)
  reads them into lists first."""

  threads = 0
  depth = 0

  def prepare(self, element):
    return element

  def work(self, element, *side_inputs) -> list:
    raise NotImplementedError

  def emit(self, outputs):
    return outputs

  def setup(self):
    worker.prepare()
    self._ahead = RunAhead(self.threads or default_threads(),
                           f"crmsync-{type(self).__name__}", self.depth)

  def process(self, element, *side_inputs):
    for outputs in self._ahead.submit(self.work, self.prepare(element),
                                      *side_inputs):
      yield from self.emit(outputs)

  def finish_bundle(self):
    for outputs in self._ahead.drain():
      yield from map(windowed, self.emit(outputs))

  def teardown(self):
    self._ahead.shutdown()
