"""A bundle's end waits less for Beam's state sampler
(transforms/state_sampler.py)."""

import time

from apache_beam.runners.worker import statesampler
from apache_beam.utils.counters import CounterFactory

from crmsync.transforms import state_sampler, worker


def test_the_bundle_processors_samplers_use_the_shorter_period():
  worker.prepare()
  worker.prepare()  # idempotent
  # As Beam's bundle processor makes one: no period given.
  made = statesampler.StateSampler("fnapi-step-1", CounterFactory())
  assert made.sampling_period_ms == state_sampler.SAMPLING_PERIOD_MS == 20
  assert statesampler.StateSampler("s", CounterFactory(),
                                   500).sampling_period_ms == 500


def test_a_long_bundles_end_waits_at_most_about_the_period():
  """With Beam's 200 ms, each stop below waits a random 0-200 ms (the
  sampler's sleep has ramped up to it after a second)."""
  worker.prepare()
  waits = []
  for _ in range(3):
    sampler = statesampler.StateSampler("fnapi-step-1", CounterFactory())
    sampler.start()
    time.sleep(1.2)
    start = time.perf_counter()
    sampler.stop()
    waits.append(time.perf_counter() - start)
  assert sum(waits) < 0.15, waits
