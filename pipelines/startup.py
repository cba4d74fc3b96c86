"""A crmsync process's start-up: no pandas, and the collector paused.

crmsync does not use pandas, but when it is installed (a data engineer's
environment often has it; our benchmarks' peers need it) Beam imports it
on `import apache_beam` (its type hints offer pandas conversions) and
pyarrow at its first array of Python values (to check for pandas
objects): a noticeable share of a short run's start-up, and memory.
`skip_pandas()` makes a command's process treat it as not installed.

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
runs crmsync's own job, which never uses pandas), `crmsync-worker` only
`pause_collector` (a worker may run a user's own DoFns beside crmsync's
transforms). `resume_collector()` does nothing where nothing paused it, so
a caller of `cli.main` in its own process (a test, a scheduler's Python
task) keeps its collector and its pandas as they were, and nothing of its
own is frozen.
"""

import gc
import importlib.abc
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


class _NoPandas(importlib.abc.MetaPathFinder):
  """`import pandas` fails as it does where pandas is not installed."""

  def find_spec(self, name, path=None, target=None):
    if name == "pandas" or name.startswith("pandas."):
      raise ModuleNotFoundError(
          f"No module named {name!r} (a crmsync command does not load it)",
          name=name)
    return None


def skip_pandas() -> None:
  """From now on, this process imports pandas as if it were not installed
  (Beam and pyarrow then skip their pandas support); nothing changes if
  something imported it already. Idempotent."""
  if "pandas" not in sys.modules and not any(
      isinstance(finder, _NoPandas) for finder in sys.meta_path):
    sys.meta_path.insert(0, _NoPandas())
