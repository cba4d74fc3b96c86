"""Beam's portable runners: Flink and Spark.

`crmsync run --runner FlinkRunner` (or SparkRunner) hands the pipeline to a
Beam job server, a Java program that translates it for the cluster; Python
workers run our DoFns. This module fills in what Beam leaves to the user:

- the job-server jar: assembled once by Maven (pipelines/dev/jobservers.py,
  `crmsync dev jobservers`, or on first use), rather than downloaded at
  every run;
- the worker environment: LOOPBACK (the workers run in the submitting
  process) for an embedded cluster, PROCESS with the `crmsync-worker` boot
  command for a cluster (and for `--runner PortableRunner`, a job server
  of your own). An explicit `--environment_type`, `--job_endpoint` or
  `--*_job_server_jar` wins;
- the worker cache: Beam's default (`--environment_cache_millis=0`) lets
  the runner tear a Python worker down when its stage ends, so that every
  stage of every task boots a new one (the Spark runner does); workers are
  kept for WORKER_CACHE_MILLIS between stages instead, unless you set it.
"""

import os
import sys
from typing import List, Optional

from apache_beam.options.pipeline_options import PipelineOptions

JOB_SERVERS = {"flink": "FlinkRunner", "spark": "SparkRunner"}
# Long enough to bridge the gap between two stages of a job, short enough
# that a finished job's workers do not idle on the cluster for long.
WORKER_CACHE_MILLIS = 30_000
EMBEDDED = {"flink": ("--flink_master", "[local]"),
            "spark": ("--spark_master_url", "local[2]")}


class FlinkJobServerOptions(PipelineOptions):
  """Options of Beam's Flink job server (Java) that Beam's Python SDK does
  not declare, passed through to it with the job."""

  @classmethod
  def _add_argparse_args(cls, parser):
    parser.add_argument(
        "--pipeline_resources_detector_factory_class", default=None,
        help="the job server's PipelineResourcesDetector.Factory: which "
             "jars a job uploads to the Flink cluster (default: the job "
             "server's whole classpath, about 150 MB; "
             "crmsync.StageNothing: none, for a cluster whose classpath "
             "holds them, as `crmsync dev flink` sets it up)")


def worker_command() -> str:
  """The PROCESS environment's boot command: installed beside this Python."""
  return os.path.join(os.path.dirname(sys.executable), "crmsync-worker")


def on_portable_runner(options) -> bool:
  """Whether a job with these PipelineOptions runs on Flink, Spark or a
  job server of yours: elements then cross to the JVM and back, and large
  ones are better passed as files."""
  from apache_beam.options.pipeline_options import StandardOptions
  runner = options.view_as(StandardOptions).runner or ""
  if not isinstance(runner, str):
    runner = type(runner).__name__
  return runner.lower() in {*(r.lower() for r in JOB_SERVERS.values()),
                            "portablerunner"}


def _value(args: List[str], flag: str) -> Optional[str]:
  for i, a in enumerate(args):
    if a.startswith(flag + "="):
      return a.split("=", 1)[1]
    if a == flag and i + 1 < len(args):
      return args[i + 1]
  return None


def portable_args(args: List[str]) -> List[str]:
  """Beam options for a Flink or Spark run, with our defaults filled in;
  other runners' options come back unchanged."""
  runner = (_value(args, "--runner") or "").lower()
  kind = next((k for k, r in JOB_SERVERS.items() if runner == r.lower()),
              None)
  args = list(args)
  if kind is None and runner != "portablerunner":
    return args
  if runner == "portablerunner":
    if _value(args, "--environment_type") is None:
      # A job server you run yourself (YARN, Kubernetes): Beam's default
      # environment is DOCKER; crmsync's workers boot with crmsync-worker.
      args += _process_environment()
    return _worker_cache(args)
  master_flag, embedded = EMBEDDED[kind]
  master = _value(args, master_flag)
  if master is None and _value(args, "--job_endpoint") is None:
    args.append(f"{master_flag}={embedded}")
    master = embedded
  if (_value(args, "--job_endpoint") is None
      and _value(args, f"--{kind}_job_server_jar") is None):
    from crmsync.pipelines.dev.jobservers import job_server_jar
    args.append(f"--{kind}_job_server_jar={job_server_jar(kind)}")
  if _value(args, "--environment_type") is None:
    if master is not None and master.startswith(("[local]", "local")):
      args.append("--environment_type=LOOPBACK")
    else:
      args += _process_environment()
  return _worker_cache(args)


def _worker_cache(args: List[str]) -> List[str]:
  if _value(args, "--environment_cache_millis") is None:
    args.append(f"--environment_cache_millis={WORKER_CACHE_MILLIS}")
  return args


def _process_environment() -> List[str]:
  return ["--environment_type=PROCESS",
          f'--environment_config={{"command": "{worker_command()}"}}']
