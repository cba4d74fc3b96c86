"""The Flink and Spark job servers: Beam's Java programs that translate a
pipeline for the cluster, assembled once by Maven from the POMs in
`poms/` into a cache folder (`crmsync dev jobservers`, or on a run's first
use of the runner).
"""

import filecmp
import logging
import os
import re
import shutil
import subprocess
import zipfile
from typing import Sequence

from crmsync.pipelines.runners import JOB_SERVERS
from crmsync.transforms.errors import ConfigError
from crmsync.transforms.worker import cache_dir

_LOG = logging.getLogger(__name__)
POMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "poms")


def job_server_jar(kind: str) -> str:
  """The path of the `kind` ("flink" or "spark") job-server launcher jar,
  built by Maven if it is missing or its POM changed."""
  folder = os.path.join(cache_dir(), "jobservers", kind)
  pom = os.path.join(POMS, f"{kind}.pom.xml")
  cached_pom = os.path.join(folder, "pom.xml")
  jar = os.path.join(folder, "target", "job-server.jar")
  sources = _sources(kind)
  if os.path.exists(jar) and all(
      os.path.exists(os.path.join(folder, copy)) and filecmp.cmp(
          source, os.path.join(folder, copy), shallow=False)
      for source, copy in [(pom, "pom.xml"), *sources]):
    return jar
  if shutil.which("mvn") is None or shutil.which("java") is None:
    raise ConfigError(f"--runner {JOB_SERVERS[kind]} needs Java and Maven to "
                      f"build the {kind} job server (or pass "
                      f"--{kind}_job_server_jar or --job_endpoint)")
  os.makedirs(folder, exist_ok=True)
  for source, copy in sources:
    os.makedirs(os.path.dirname(os.path.join(folder, copy)), exist_ok=True)
    shutil.copyfile(source, os.path.join(folder, copy))
  shutil.copyfile(pom, cached_pom)
  _LOG.info("building the %s job server with Maven in %s (once)", kind,
            folder)
  done = subprocess.run(["mvn", "-q", "-B", "package"], cwd=folder,
                        capture_output=True, text=True)
  if done.returncode != 0 or not os.path.exists(jar):
    os.remove(cached_pom)  # not a valid cache: rebuild next time
    tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
    raise ConfigError(f"building the {kind} job server failed (mvn in "
                      f"{folder}): {' | '.join(tail)}")
  return jar


def _sources(kind: str):
  """(our Java source, its path in the build folder) for the `kind` job
  server: each compiles crmsync.StageNothing."""
  return [(os.path.join(POMS, "java", "crmsync", "StageNothing.java"),
           os.path.join("java", "crmsync", "StageNothing.java"))]


def beam_jars(kind: str, cluster_jars: Sequence[str] = ()):
  """The jars of the `kind` job server's classpath that a cluster of that
  kind lacks: Beam's runner and its dependencies, without the cluster's
  own (Flink's jars, and its logging: a cluster keeps its log4j; for
  Spark, any library of which `cluster_jars`, the paths of the jars of a
  Spark distribution, hold a version). Read from the launcher jar's
  manifest, not the folder: `mvn package` leaves the jars of an earlier
  POM there."""
  jar = job_server_jar(kind)
  with zipfile.ZipFile(jar) as z:
    manifest = z.read("META-INF/MANIFEST.MF").decode("utf-8")
  # A manifest line goes on in the next one that starts with a space.
  fields = dict(line.split(": ", 1) for line in
                manifest.replace("\r\n", "\n").replace("\n ", "").splitlines()
                if ": " in line)
  skip = ("flink-", "slf4j-", "log4j-", "kryo-", "minlog-", "chill-java-",
          "objenesis-")
  has = {_library(path) for path in cluster_jars}
  return [os.path.join(os.path.dirname(jar), path)
          for path in fields.get("Class-Path", "").split()
          if not os.path.basename(path).startswith(skip)
          and _library(path) not in has]


def _library(path: str) -> str:
  """A jar's library without its version: jackson-core-2.15.2.jar ->
  jackson-core."""
  return re.sub(r"-\d[^-]*(-[^-]+)*\.jar$", "", os.path.basename(path))
