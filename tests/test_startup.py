"""The collector paused through a command's start-up (pipelines/startup.py)."""

import gc
import subprocess
import sys

_SCRIPT = """
import gc
from crmsync.pipelines import startup
startup.pause_collector()
paused = gc.isenabled()
import apache_beam  # the start-up the pause is for
before = gc.get_freeze_count()
startup.resume_collector()
frozen = gc.get_freeze_count()
startup.resume_collector()  # a second call changes nothing
print(paused, before, frozen > 100000, gc.get_freeze_count() == frozen,
      gc.isenabled())
"""


def test_resuming_freezes_what_start_up_created_and_collects_again():
  # In a process of its own: freezing pytest's objects would keep them.
  done = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True,
                        text=True, timeout=120)
  assert done.returncode == 0, done.stderr
  assert done.stdout.split() == ["False", "0", "True", "True", "True"]


def test_resuming_without_a_pause_leaves_the_collector_alone():
  from crmsync.pipelines import startup
  frozen = gc.get_freeze_count()
  gc.disable()  # a caller's own choice
  try:
    startup.resume_collector()
    assert not gc.isenabled()
    assert gc.get_freeze_count() == frozen
  finally:
    gc.enable()


_NO_PANDAS = """
import sys
from crmsync.pipelines import startup
startup.skip_pandas()
startup.skip_pandas()  # idempotent: one finder
import apache_beam
import pyarrow as pa
print(pa.array(["x", None]).null_count, "pandas" in sys.modules,
      sum(type(f).__name__ == "_NoPandas" for f in sys.meta_path))
try:
  import pandas
except ModuleNotFoundError as e:
  print("not installed:", e.name)
"""


def test_a_command_process_runs_beam_and_arrow_without_pandas():
  done = subprocess.run([sys.executable, "-c", _NO_PANDAS],
                        capture_output=True, text=True, timeout=120)
  assert done.returncode == 0, done.stderr
  assert done.stdout.splitlines() == ["1 False 1", "not installed: pandas"]
