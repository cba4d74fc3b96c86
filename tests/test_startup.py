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


_UNUSED = """
import sys
from crmsync.pipelines import startup
startup.skip_unused()
startup.skip_unused()  # idempotent: one finder
import apache_beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems
from crmsync.transforms import worker
worker.prepare()  # as the CLI does before it reads the config
print(pa.array(["x", None]).null_count,
      sorted(m for m in sys.modules if m.split(".")[0] in
             ("pandas", "pymongo", "bson", "boto3", "requests") or
             m.startswith(("apache_beam.io.aws.s3", "apache_beam.io.gcp.big"))),
      sum(type(f).__name__ == "_Unused" for f in sys.meta_path))
for name in ("pandas", "pymongo", "apache_beam.io.gcp.bigquery"):
  try:
    __import__(name)
  except ModuleNotFoundError as e:
    print("not installed:", e.name)
try:
  FileSystems.get_filesystem("s3://bucket/key")
except ValueError:
  print("no s3 yet")
startup.load_s3()
startup.load_s3()
from crmsync.transforms import s3_clients
s3_clients.install()
from apache_beam.io.aws.clients.s3 import boto3_client
print(type(FileSystems.get_filesystem("s3://bucket/key")).__name__,
      boto3_client.Client.__init__._crmsync_cached)
"""


def test_a_command_process_runs_beam_without_the_ios_its_job_never_uses():
  done = subprocess.run([sys.executable, "-c", _UNUSED],
                        capture_output=True, text=True, timeout=120)
  assert done.returncode == 0, done.stderr
  # Beam's line about the missing bson is not printed either.
  assert done.stderr == ""
  assert done.stdout.splitlines() == [
      "1 [] 1", "not installed: pandas", "not installed: pymongo",
      "not installed: apache_beam.io.gcp.bigquery", "no s3 yet",
      "S3FileSystem True"]
