"""What a process that runs crmsync's transforms sets up, explicitly.

Importing crmsync changes nothing in the process. A run sets up these
things once per process: the CLI before it builds the pipeline, and the
transforms' DoFns in `setup` (a worker process of any runner):

- Beam's S3 client gets one boto3 client per configuration
  (transforms/s3_clients.py);
- Beam looks up each DoFn's state and timer parameters once, not at each
  step of building, translating and running the job, and makes each view
  of the pipeline options once, not for every transform applied
  (transforms/beam_memos.py);
- each bundle's end waits less for Beam's state sampler
  (transforms/state_sampler.py);
- the `crmsync` loggers take the CLI's level (--quiet, -v), which worker
  processes learn from the environment variable CRMSYNC_LOG_LEVEL;
- Arrow allocates from its jemalloc pool, where the pyarrow build has one
  and ARROW_DEFAULT_MEMORY_POOL chooses none: mimalloc, pyarrow's default
  on Linux, kept the pages of the batches a run had finished with, so a
  run's peak memory grew with its input (README: Performance).

`cache_dir()` is the machine's crmsync cache (job servers, cluster
distributions, the given-name tables).
"""

import logging
import os

import pyarrow as pa

from crmsync.transforms import beam_memos, s3_clients, state_sampler

LOG_LEVEL_ENV = "CRMSYNC_LOG_LEVEL"
CACHE_ENV = "CRMSYNC_CACHE"


def cache_dir() -> str:
  """$CRMSYNC_CACHE, else ~/.cache/crmsync."""
  return os.environ.get(CACHE_ENV) or os.path.join(
      os.path.expanduser("~"), ".cache", "crmsync")


def prepare() -> None:
  """Sets this process up to run crmsync's transforms; idempotent, and
  cheap once done (handoff files call it for every slice they read)."""
  s3_clients.install()
  beam_memos.install()
  state_sampler.install()
  _use_jemalloc()
  level = os.environ.get(LOG_LEVEL_ENV)
  logger = logging.getLogger("crmsync")
  # setLevel clears every logger's cache: only when the level changes.
  if level and logging.getLevelName(logger.level) != level:
    logger.setLevel(level)


_jemalloc_tried = False


def _use_jemalloc() -> None:
  global _jemalloc_tried
  if _jemalloc_tried or os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
    return
  _jemalloc_tried = True
  try:
    pa.set_memory_pool(pa.jemalloc_memory_pool())
  except NotImplementedError:  # a pyarrow built without it (Windows)
    pass
