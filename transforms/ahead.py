"""Work run ahead on background threads, its results taken in order.

Beam hands a DoFn one element at a time. Merging and encoding a batch are
mostly Arrow and numpy kernels, which release the GIL, so a DoFn that
submits each batch to a small thread pool and yields the results as they
finish (in submission order) uses the machine's other cores. Beam's metric
counters are bound to the runner's thread: the work must not touch them;
the DoFn counts what it yields. Results come out while later elements are
being processed, or when the bundle finishes, so each one is emitted in
the window and with the timestamp of the element it came from.
"""

import collections
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput
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


def windowed(output, window, timestamp):
  """An output, tagged or not, in the window and at the timestamp of the
  element it came from."""
  if isinstance(output, TaggedOutput):
    return TaggedOutput(output.tag, windowed(output.value, window, timestamp))
  return WindowedValue(output, timestamp, [window])


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

  # Beam fills DoFn parameters given as positional defaults, then passes
  # the side inputs after them.
  def process(self, element, window=beam.DoFn.WindowParam,
              timestamp=beam.DoFn.TimestampParam, *side_inputs):
    for done in self._ahead.submit(self._work, (window, timestamp),
                                   self.prepare(element), *side_inputs):
      yield from self._emit(*done)

  def finish_bundle(self):
    for done in self._ahead.drain():
      yield from self._emit(*done)

  def _work(self, where, element, *side_inputs):
    return where, self.work(element, *side_inputs)

  def _emit(self, where, outputs):
    window, timestamp = where
    for output in self.emit(outputs):
      yield windowed(output, window, timestamp)

  def teardown(self):
    self._ahead.shutdown()
