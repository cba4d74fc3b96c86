"""A crmsync process's start-up, with the cyclic garbage collector paused.

Importing Beam, pyarrow, numpy and their dependencies, then building the
job, creates several hundred thousand objects that live as long as the
process. While they are created, CPython's collector keeps running full
passes over all of them, for no garbage. `pause_collector()` turns it off
at a command's start; `resume_collector()` moves every object then alive to
the permanent generation (`gc.freeze`, the way the Python documentation
suggests for long-lived start-up state:
https://docs.python.org/3/library/gc.html#gc.freeze) and turns it back on,
so later passes scan only what the run itself creates.

Only the process entry points pause it (the `crmsync` and `crmsync-worker`
commands): `resume_collector()` does nothing where nothing paused it, so a
caller of `cli.main` in its own process (a test, a scheduler's Python task)
keeps its collector as it was and nothing of its own is frozen.
"""

import gc

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
