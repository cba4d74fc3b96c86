"""The demo job, scored (match.scoring: true: candidate pairs, the model
and the decisions cross workers), on Flink and Spark standalone clusters on
127.0.0.1 gives the DirectRunner's bytes, every shard and every report (on
Spark, in the partitioned join), and so does the fuzzy key on an embedded
Flink, in the partitioned join.

Java and Maven must be on the PATH: the job servers are built by Maven into
the cache (`crmsync dev jobservers`), and the clusters are the Flink and
Spark distributions from PyPI. CRMSYNC_SKIP_RUNNERS=1 skips this module.
"""

import glob
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import files_in
from crmsync.pipelines.dev.clusters import STAGE_NOTHING, SparkCluster

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "configs", "demo.yaml")

pytestmark = pytest.mark.skipif(
    os.environ.get("CRMSYNC_SKIP_RUNNERS") == "1",
    reason="CRMSYNC_SKIP_RUNNERS=1")


def run_demo(out_dir, *beam_args, quiet=False):
  """`crmsync run configs/demo.yaml` in a subprocess, as a user runs it,
  scored and with the match columns; the output folder's files by name.
  `quiet`: with --quiet, which must print nothing."""
  done = subprocess.run(
      [sys.executable, "-m", "crmsync.pipelines.cli", "run", DEMO,
       f"--set=output.path={out_dir}/merged",
       f"--set=output.reports={out_dir}/reports",
       "--set=match.scoring=true", "--set=output.match_columns=true",
       *(["--quiet"] if quiet else []), *beam_args],
      capture_output=True, text=True, cwd=ROOT, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  if quiet:
    assert done.stderr == "", done.stderr[-3000:]
  else:
    assert "10000 original rows read, 10000 written" in done.stderr
  return files_in(out_dir, os.path.join(out_dir, "reports"))


@pytest.fixture(scope="module")
def direct(tmp_path_factory):
  return run_demo(str(tmp_path_factory.mktemp("direct")))


def assert_same(direct, other):
  assert sorted(other) == sorted(direct)
  assert len(direct) == 14  # 4 shards, 9 reports, the manifest
  for name in direct:
    assert other[name] == direct[name], f"{name} differs"


def test_fuzzy_and_confirm_on_flink_give_the_direct_runners_bytes(tmp_path):
  """The fuzzy key and confirm through a portable runner (embedded Flink,
  LOOPBACK workers), scored, in the partitioned join: candidate pairs,
  term counts, the vendor sample, the model and the decisions travel
  between workers and must come out as the DirectRunner's broadcast join
  gives them."""
  sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
  import match_quality
  data = str(tmp_path / "data")
  match_quality.build(600, 2, data)
  config = tmp_path / "job.yaml"
  config.write_text(match_quality.config(data, str(tmp_path / "unused"),
                                         True, True, "broadcast"))
  out = {}
  for runner, join in (("DirectRunner", "broadcast"),
                       ("FlinkRunner", "partitioned")):
    folder = tmp_path / runner
    done = subprocess.run(
        [sys.executable, "-m", "crmsync.pipelines.cli", "run", str(config),
         f"--runner={runner}", f"--set=output.path={folder}/merged",
         f"--set=output.reports={folder}/reports", f"--set=join={join}",
         "--set=join_partitions=3"],
        capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out[runner] = files_in(str(folder), str(folder / "reports"))
  assert out["FlinkRunner"] == out["DirectRunner"]
  assert b'"fuzzy_matches": 0' not in out["DirectRunner"]["stats.json"]
  assert b'"m_estimated": true' in out["DirectRunner"]["match_weights.json"]


def test_spark_cluster_of_two_workers_matches(direct, tmp_path):
  """Two Spark worker processes of one core each; the inputs read in
  splits of 256 KB, scored in the partitioned join: each worker ran an
  executor of the job, and the bytes are the DirectRunner's (broadcast
  join)."""
  with SparkCluster(str(tmp_path / "spark"), workers=2) as cluster:
    out = run_demo(str(tmp_path / "out"), *cluster.beam_args(),
                   "--split_bytes=262144", "--set=join=partitioned")
    with urllib.request.urlopen(
        f"http://127.0.0.1:{cluster.ui_port}/json/") as r:
      assert b'"completedapps" : [ {' in r.read()
  for worker in ("worker-1", "worker-2"):
    executors = glob.glob(str(tmp_path / "spark" / worker / "app-*" / "*"))
    assert executors, f"{worker} ran no executor"
  assert_same(direct, out)


def test_dev_flink_cluster_runs_the_demo_with_process_workers(direct,
                                                             tmp_path):
  """`crmsync dev flink --workers 2` started as the README says, with its
  default --dir (out/flink, relative to where it starts): two TaskManager
  processes. The demo on it, with the cluster's PROCESS workers, its
  inputs read in splits of 256 KB, and --quiet, prints nothing (not even
  the job server's warnings) and gives the DirectRunner's bytes; the
  original's splits were read on both TaskManagers (Flink's REST API:
  the task that reads them had work on each); the job is submitted with
  StageNothing, so its tasks load Beam's classes from the cluster's own
  classpath; SIGTERM stops the cluster.
  On the way, a shard's bundle fails once after writing part of its file
  (as a lost worker would; CRMSYNC_FAULT, which the cluster's workers
  inherit): the cluster restarts that part of the job, and the failed
  attempt's file is not published."""
  from crmsync.transforms.faults import FAULT_ENV
  proc = subprocess.Popen(
      [sys.executable, "-m", "crmsync.pipelines.cli", "dev", "flink",
       "--workers", "2"],
      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
      cwd=tmp_path, env=dict(os.environ,
                             **{FAULT_ENV: f"write:concat@{tmp_path}"}))
  try:
    first = proc.stdout.readline()
    assert "flink cluster up on 127.0.0.1:" in first, first
    master = first.split(" on ")[1].split()[0]
    assert _flink(master, "/overview")["taskmanagers"] == 2
    proc.stdout.readline()  # In another shell:
    command = proc.stdout.readline().split()
    # As the cluster prints it: submitted to the cluster's job server, and
    # the job uploads no jar (StageNothing), so without Beam's Flink
    # runner on the cluster's classpath its tasks would not find Beam's
    # classes.
    assert command[:3] == ["crmsync", "run", "configs/demo.yaml"], command
    beam = command[3:]
    assert f"--flink_master={master}" in beam and STAGE_NOTHING in beam
    assert any(a.startswith("--job_endpoint=localhost:") for a in beam)
    out = run_demo(str(tmp_path / "demo"), *beam, "--split_bytes=262144",
                   quiet=True)
    # The job really ran on this cluster, not on an embedded one.
    job, = _flink(master, "/jobs/overview")["jobs"]
    assert job["state"] == "FINISHED"
    assert _read_on(master, job["jid"], "ReadOriginal") == 2
  finally:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
  assert os.path.exists(tmp_path / "out" / "flink" / "jobmanager.log")
  assert os.path.exists(tmp_path / "write-concat")  # it did fail once
  assert_same(direct, out)
  deadline = time.monotonic() + 30
  while time.monotonic() < deadline:
    try:
      urllib.request.urlopen(f"http://{master}/overview", timeout=1)
      time.sleep(0.5)
    except OSError:
      return
  pytest.fail("the Flink JobManager outlived crmsync dev flink")


def _flink(master: str, path: str):
  with urllib.request.urlopen(f"http://{master}{path}") as r:
    return json.load(r)


def _read_on(master: str, jid: str, read: str) -> int:
  """On how many TaskManagers the task reading `read`'s splits (after they
  were spread) had input; 0 if no such task."""
  most = 0
  for vertex in _flink(master, f"/jobs/{jid}")["vertices"]:
    if read not in vertex["name"] or f"{read}/Read/Split" in vertex["name"]:
      continue
    subtasks = _flink(master, f"/jobs/{jid}/vertices/{vertex['id']}")[
        "subtasks"]
    most = max(most, len({s["taskmanager-id"] for s in subtasks
                          if s["metrics"]["read-records"] > 0}))
  return most


def test_runner_options_filled_in_and_never_overridden(monkeypatch):
  """What crmsync adds to a Flink, Spark or portable run's options."""
  from crmsync.pipelines import runners
  from crmsync.pipelines.dev import jobservers
  monkeypatch.setattr(jobservers, "job_server_jar",
                      lambda kind: f"/{kind}.jar")
  worker = runners.worker_command()
  process = ["--environment_type=PROCESS",
             f'--environment_config={{"command": "{worker}"}}']
  # Workers outlive a stage, so that the next stage need not boot its own.
  cache = ["--environment_cache_millis=30000"]
  assert runners.portable_args(["--runner=FlinkRunner"]) == [
      "--runner=FlinkRunner", "--flink_master=[local]",
      "--flink_job_server_jar=/flink.jar", "--environment_type=LOOPBACK"
  ] + cache
  assert runners.portable_args(
      ["--runner", "SparkRunner", "--spark_master_url=spark://h:7077"]) == [
      "--runner", "SparkRunner", "--spark_master_url=spark://h:7077",
      "--spark_job_server_jar=/spark.jar"] + process + cache
  assert runners.portable_args(
      ["--runner=PortableRunner", "--job_endpoint=h:8099"]) == [
      "--runner=PortableRunner", "--job_endpoint=h:8099"] + process + cache
  mine = ["--runner=FlinkRunner", "--flink_master=h:8081",
          "--flink_job_server_jar=/mine.jar", "--environment_type=DOCKER",
          "--environment_cache_millis=0"]
  assert runners.portable_args(mine) == mine
  direct = ["--runner=apache_beam.runners.portability.fn_api_runner."
            "FnApiRunner"]
  assert runners.portable_args(direct) == direct
