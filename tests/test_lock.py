"""pipelines/lock.py: one run per output prefix at a time, through
`crmsync run`."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from crmsync.pipelines.lock import LEASE_SECONDS, RunLock, lock_path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "configs", "demo.yaml")


def _demo_args(out):
  return ["run", DEMO, f"--set=output.path={out}/merged",
          f"--set=output.reports={out}/reports", "--quiet"]


def _plant(prefix, **lease):
  now = time.time()
  lease = {"run_id": "other1234567", "host": socket.gethostname(),
           "pid": os.getppid(), "started": now - 5,
           "expires": now + LEASE_SECONDS, **lease}
  os.makedirs(os.path.dirname(prefix), exist_ok=True)
  with open(lock_path(prefix), "w") as f:
    json.dump(lease, f)


def _rows(out):
  shards = sorted(p for p in os.listdir(out) if p.startswith("merged-"))
  return sum(sum(1 for _ in open(os.path.join(out, s))) - 1 for s in shards)


def test_a_live_run_on_the_prefix_stops_the_second_with_exit_2(
    cli, tmp_path):
  out = str(tmp_path / "out")
  _plant(f"{out}/merged")  # pytest's parent process: alive
  code, _, err = cli(*_demo_args(out))
  assert code == 2
  [line] = [l for l in err.splitlines() if l.startswith("crmsync")]
  assert "merged_lock.json: run other1234567 (host " in line
  assert "is writing to this output" in line
  assert not any(p.startswith("merged-") for p in os.listdir(out))
  assert json.load(open(lock_path(f"{out}/merged")))["run_id"] == (
      "other1234567")


@pytest.mark.parametrize("dead", ["process gone", "lease expired",
                                  "half written", "run over, same process"])
def test_a_dead_runs_lease_is_taken_over(cli, tmp_path, dead):
  out = str(tmp_path / "out")
  if dead == "process gone":
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    _plant(f"{out}/merged", pid=gone.pid)
  elif dead == "lease expired":  # killed on another machine
    _plant(f"{out}/merged", host="elsewhere", expires=time.time() - 1)
  elif dead == "half written":
    os.makedirs(out)
    with open(lock_path(f"{out}/merged"), "w") as f:
      f.write('{"run_id": "x", "ho')
  else:  # an earlier run in this process that could not remove its lease
    _plant(f"{out}/merged", pid=os.getpid())
  if dead == "process gone":  # the whole run once; the others by the lease
    code, _, err = cli(*_demo_args(out))
    assert code == 0, err
    assert _rows(out) == 10_000
  else:
    with RunLock(f"{out}/merged", "mine12345678"):
      assert json.load(open(lock_path(f"{out}/merged")))["run_id"] == (
          "mine12345678")
  assert not os.path.exists(lock_path(f"{out}/merged"))


def test_two_concurrent_runs_the_second_exits_2_the_first_completes(
    cli, tmp_path):
  out = str(tmp_path / "out")
  first = subprocess.Popen(
      [sys.executable, "-m", "crmsync.pipelines.cli", *_demo_args(out)],
      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
  deadline = time.time() + 120
  while not os.path.exists(lock_path(f"{out}/merged")):
    assert first.poll() is None and time.time() < deadline
    time.sleep(0.02)
  code, _, err = cli(*_demo_args(out))
  assert code == 2, err
  assert "is writing to this output" in err
  _, first_err = first.communicate(timeout=300)
  assert first.returncode == 0, first_err.decode()
  assert _rows(out) == 10_000
  stats = json.load(open(f"{out}/reports/stats.json"))
  assert stats["accounting"]["balanced"]
  assert not os.path.exists(lock_path(f"{out}/merged"))


def test_a_lease_that_is_not_crmsyncs_is_dead_and_a_bad_store_is_one_line(
    cli, tmp_path):
  out = str(tmp_path / "out")
  _plant(f"{out}/merged", expires="soon", started=None)
  code, _, err = cli(*_demo_args(out))
  assert code == 0, err
  # A lease that cannot be written (a folder in its way): one line, exit 2.
  blocked = tmp_path / "blocked"
  blocked.mkdir()
  (blocked / f"merged_lock.json.{os.getpid()}.new").mkdir()
  code, _, err = cli(*_demo_args(str(blocked)))
  assert code == 2
  assert "cannot take the lease on this output" in err
  assert "Traceback" not in err
