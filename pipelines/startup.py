"""A crmsync process's start-up: only the modules its job uses, and the
collector paused.

`import apache_beam` imports, when they are installed, the libraries of
IOs a crmsync job never uses: pandas (Beam's type hints offer pandas
conversions; pyarrow imports it too, at its first array of Python values,
to check for pandas objects), pymongo and bson (MongoDB IO), BigQuery's
IO with `requests` (Beam's own module; Beam imports it with Pub/Sub's,
GCS's and the cross-language IOs, all or none, and skips them all when it
fails), and boto3 with botocore for S3 (which a job whose paths are all
local does not need). Beam itself guards each of these imports: it runs
without them. Together they were a noticeable share of a short run's
start-up, and memory. `skip_unused()` makes a command's process treat them
as not installed; `load_s3()` brings Beam's S3 file system back, for a job
with an `s3://` path (the CLI calls it once a job's config is read, and at
once for its other commands).

Importing Beam, pyarrow, numpy and their dependencies, then building the
job, creates several hundred thousand objects that live as long as the
process. While they are created, CPython's collector keeps running full
passes over all of them, for no garbage. `pause_collector()` turns it off
at a command's start; `resume_collector()` moves every object then alive to
the permanent generation (`gc.freeze`, the way the Python documentation
suggests for long-lived start-up state:
https://docs.python.org/3/library/gc.html#gc.freeze) and turns it back on,
so later passes scan only what the run itself creates.

Only the process entry points call them: the `crmsync` command both (it
runs crmsync's own job), `crmsync-worker` only `pause_collector` (a worker
may run a user's own DoFns beside crmsync's transforms). `resume_collector()`
does nothing where nothing paused it, so a caller of `cli.main` in its own
process (a test, a scheduler's Python task) keeps its collector and its
modules as they were, and nothing of its own is frozen.
"""

import gc
import importlib.abc
import logging
import sys

_paused = False


def pause_collector() -> None:
  """Turns the cyclic collector off until resume_collector()."""
  global _paused
  if gc.isenabled():
    gc.disable()
    _paused = True


def resume_collector() -> None:
  """Freezes what is alive and turns the collector back on, if
  pause_collector() turned it off; idempotent."""
  global _paused
  if _paused:
    _paused = False
    gc.freeze()
    gc.enable()


# Module -> why a crmsync command's process does without it.
_UNUSED = {
    "pandas": "crmsync does not use pandas",
    "pymongo": "MongoDB IO",
    "bson": "MongoDB IO",
    "apache_beam.io.gcp.bigquery": "BigQuery IO, and with it Pub/Sub's, "
                                   "GCS's and the cross-language IOs",
}
# Beam's S3 file system, and boto3 through it, until load_s3(): the module
# alone, since Beam's retry filter takes the S3 error type from its package
# on import (apache_beam/utils/retry.py), and s3io checks for boto3 once.
_S3 = "apache_beam.io.aws.s3filesystem"
# What Beam logs when it finds no bson (apache_beam/io/mongodbio.py).
_MONGODB_LOGGER = "apache_beam.io.mongodbio"


def _within(name: str, package: str) -> bool:
  return name == package or name.startswith(package + ".")


class _Unused(importlib.abc.MetaPathFinder):
  """Importing a module of `hidden` fails as it does where the module is
  not installed."""

  def __init__(self, hidden):
    self.hidden = set(hidden)

  def find_spec(self, name, path=None, target=None):
    for package in self.hidden:
      if _within(name, package):
        raise ModuleNotFoundError(
            f"No module named {name!r} (a crmsync command does not load it: "
            f"{_UNUSED.get(package, 'S3 paths only')})", name=name)
    return None


def _finder():
  return next((f for f in sys.meta_path if isinstance(f, _Unused)), None)


def skip_unused() -> None:
  """From now on, this process imports the modules of _UNUSED, and Beam's
  S3 file system, as if they were not installed (Beam skips what needs
  them); a module imported already stays. Idempotent."""
  if _finder() is not None:
    return
  hidden = [m for m in list(_UNUSED) + [_S3] if m not in sys.modules]
  if "bson" in hidden:  # Beam's one line about it would be noise here
    logging.getLogger(_MONGODB_LOGGER).setLevel(logging.ERROR)
  sys.meta_path.insert(0, _Unused(hidden))


def load_s3() -> None:
  """Beam's S3 file system (it registers itself with FileSystems on import),
  if skip_unused() held it back; idempotent."""
  finder = _finder()
  if finder is None or _S3 not in finder.hidden:
    return
  finder.hidden.discard(_S3)
  try:
    importlib.import_module(_S3)
  except ImportError:  # as where Beam's own import of it fails
    pass
