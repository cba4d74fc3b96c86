"""Standalone Flink and Spark clusters on 127.0.0.1, for tests and users.

    crmsync dev flink [--workers 2]  # a JobManager and a TaskManager (two)
    crmsync dev spark [--workers 2]  # a master and a worker (two)

The distributions are the real ones, taken from PyPI once into the cache
folder: `apache-flink-libraries` carries Flink's lib/ folder, `pyspark` a
whole Spark distribution. Their versions match the job servers' (Flink 1.19,
Spark 3.5, Scala 2.12). The daemons are started as Flink's and Spark's own
scripts start them: Flink's memory settings come from its BashJavaUtils, as
in bin/taskmanager.sh, and Spark's through bin/spark-class. Each cluster
runs its Beam job server beside it, as a service (as Beam's Flink and
Spark runner pages run theirs), and `beam_args` submit to it.
"""

import glob
import json
import os
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from typing import Dict, List

from crmsync.pipelines.dev.jobservers import beam_jars, job_server_jar
from crmsync.pipelines.dev.s3 import free_port, serve_until_stopped
from crmsync.transforms.worker import cache_dir

FLINK = ("apache-flink-libraries", "1.19.1")
# A job for a cluster whose classpath holds the job server's jars need not
# upload them (pipelines/dev/poms/java/crmsync/StageNothing.java).
STAGE_NOTHING = ("--pipeline_resources_detector_factory_class="
                 "crmsync.StageNothing")
SPARK = ("pyspark", "3.5.1")
# The dev clusters' JVMs compile with C1 only: their work is the job's
# control and small elements (the rows travel as files), and C2's compiler
# threads, busiest in a cluster's first jobs, took the cores from the
# Python workers on a small machine (README: Flink and Spark).
JIT = ["-XX:TieredStopAtLevel=1"]
# What Flink's default config passes to every JVM on Java 17.
JAVA17_OPENS = [f"--add-opens=java.base/{p}=ALL-UNNAMED" for p in (
    "java.lang", "java.lang.invoke", "java.lang.reflect", "java.io",
    "java.net", "java.nio", "java.text", "java.time", "java.util",
    "java.util.concurrent", "java.util.concurrent.atomic", "sun.nio.ch",
    "sun.nio.cs", "sun.security.action", "sun.util.calendar")] + [
        f"--add-exports=java.base/{p}=ALL-UNNAMED" for p in (
            "sun.net.util", "sun.net.www", "sun.security.x509")]


def distribution(package: str, version: str) -> str:
  """The `deps/` folder of a PyPI sdist (Flink's lib/, Spark's home),
  downloaded and unpacked once."""
  home = os.path.join(cache_dir(), "dist", f"{package}-{version}")
  if os.path.isdir(os.path.join(home, "lib")) or os.path.isdir(
      os.path.join(home, "jars")):
    return home
  download = os.path.join(cache_dir(), "dist", "sdist")
  subprocess.run([sys.executable, "-m", "pip", "download", "--quiet",
                  "--no-deps", "--no-binary", ":all:", "-d", download,
                  f"{package}=={version}"], check=True)
  sdist = glob.glob(os.path.join(download, f"{package.replace('-', '?')}-"
                                 f"{version}.tar.gz"))[0]
  partial = home + ".partial"
  with tarfile.open(sdist) as tar:
    top = f"{os.path.basename(sdist)[:-len('.tar.gz')]}/deps/"
    members = [m for m in tar.getmembers() if m.name.startswith(top)]
    for m in members:
      m.name = m.name[len(top):]
    tar.extractall(partial, [m for m in members if m.name],
                   filter="tar")
  os.rename(partial, home)
  return home


def _wait_until(answers, what: str, process: subprocess.Popen, log: str,
                timeout: float):
  """Until `answers()` is true (the daemon serves), the daemon exits, or
  `timeout` seconds pass (`what`: the address, for the errors)."""
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    if process.poll() is not None:
      raise RuntimeError(f"{what}: the daemon exited at start; see {log}")
    if answers():
      return
    time.sleep(0.3)
  raise RuntimeError(f"{what} did not answer within {timeout:.0f} s; see {log}")


def _http_answers(url: str) -> bool:
  try:
    urllib.request.urlopen(url, timeout=1)
  except urllib.error.HTTPError:
    return True  # an error page is an answer
  except OSError:
    return False
  return True


def _port_answers(port: int) -> bool:
  try:
    socket.create_connection(("127.0.0.1", port), timeout=1).close()
  except OSError:
    return False
  return True


class _Daemons:
  """Processes started in order, stopped in reverse."""

  def __init__(self, work_dir: str):
    # Absolute: the daemons run in it, and are told where their config is.
    self.work_dir = os.path.abspath(work_dir)
    self.processes: List[subprocess.Popen] = []
    self.job_port = 0

  @property
  def job_endpoint(self) -> str:
    """The value of --job_endpoint: the cluster's Beam job server."""
    return f"localhost:{self.job_port}"

  def _start_job_server(self, kind: str, master: List[str], timeout: float,
                        env: Dict[str, str] = None, jvm: List[str] = ()):
    """Beam's job server for this cluster, one for all its jobs: a run
    that starts its own pays a JVM's start and the runner's class loading
    before the cluster sees the job."""
    self.job_port = free_port()
    process, log = self._start("jobserver", [
        "java", *JAVA17_OPENS, *JIT, *jvm, "-jar", job_server_jar(kind),
        *master,
        "--job-port", str(self.job_port), "--artifact-port", "0",
        "--expansion-port", "0",
        "--artifacts-dir", os.path.join(self.work_dir, "artifacts")], env)
    _wait_until(lambda: _port_answers(self.job_port),
                f"port {self.job_port}", process, log, timeout)

  def _start(self, name: str, command: List[str], env: Dict[str, str] = None):
    os.makedirs(self.work_dir, exist_ok=True)
    log = os.path.join(self.work_dir, f"{name}.log")
    with open(log, "ab") as out:
      process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                 cwd=self.work_dir,
                                 env=dict(os.environ, **(env or {})),
                                 start_new_session=True)
    self.processes.append(process)
    return process, log

  def _wait_for_count(self, url: str, field: str, name: str,
                      timeout: float, count: int = 1):
    """Until the JSON at `url` counts `count` `field`s (registered
    TaskManagers or workers)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
      with urllib.request.urlopen(url) as r:
        if json.load(r).get(field, 0) >= count:
          return
      time.sleep(0.3)
    raise RuntimeError(f"fewer than {count} {name}s registered within "
                       f"{timeout:.0f} s; see {self.work_dir}/{name}*.log")

  def stop(self):
    for process in reversed(self.processes):
      if process.poll() is None:
        process.terminate()
        try:
          process.wait(timeout=20)
        except subprocess.TimeoutExpired:
          process.kill()
          process.wait()
    self.processes = []

  def __enter__(self):
    return self.start()

  def __exit__(self, *exc):
    self.stop()


class FlinkCluster(_Daemons):
  """A Flink session cluster: one JobManager and 2 task slots, on one
  TaskManager or, with `workers=2`, one on each of two (two processes, as
  two machines would run them)."""

  def __init__(self, work_dir: str, rest_port: int = 0, workers: int = 1):
    super().__init__(work_dir)
    self.rest_port = rest_port or free_port()
    self.workers = workers

  @property
  def master(self) -> str:
    """The value of --flink_master."""
    return f"127.0.0.1:{self.rest_port}"

  def _config(self) -> str:
    conf = os.path.join(self.work_dir, "conf")
    os.makedirs(conf, exist_ok=True)
    settings = {
        "jobmanager.rpc.address": "127.0.0.1",
        "jobmanager.rpc.port": free_port(),
        "jobmanager.bind-host": "127.0.0.1",
        "rest.address": "127.0.0.1", "rest.bind-address": "127.0.0.1",
        "rest.port": self.rest_port,
        "taskmanager.host": "127.0.0.1", "taskmanager.bind-host": "127.0.0.1",
        "taskmanager.numberOfTaskSlots": max(1, 2 // self.workers),
        "parallelism.default": 2,
        "jobmanager.memory.process.size": "1024m",
        "taskmanager.memory.process.size": "3072m",
        # A Beam job is one wide graph of tasks running at once: the default
        # network memory is short of buffers for it.
        "taskmanager.memory.network.min": "512m",
        "taskmanager.memory.network.max": "512m",
        # Beam's gRPC data plane to the Python workers allocates direct
        # buffers outside Flink's network memory, each as large as an
        # element (a batch of rows): without room of its own, a job of a
        # million rows fails with "OutOfMemoryError: Direct buffer memory".
        "taskmanager.memory.task.off-heap.size": "512m",
        # Managed memory only serves Flink's own sorts and hashes of
        # elements; the rest goes to the heap, where Beam's translation
        # decodes each element whole.
        "taskmanager.memory.managed.size": "256m",
        "io.tmp.dirs": os.path.join(self.work_dir, "tmp"),
        # A failed task (a lost worker) restarts its region of the job
        # rather than failing the job: every stage of crmsync may run twice.
        "restart-strategy.type": "fixed-delay",
        "restart-strategy.fixed-delay.attempts": 3,
        "restart-strategy.fixed-delay.delay": "1 s",
    }
    with open(os.path.join(conf, "config.yaml"), "w") as f:
      f.writelines(f"{k}: {v}\n" for k, v in settings.items())
    # Flink's own log (its errors: a TaskManager out of memory) goes to
    # <name>-flink.log beside the process's output (<name>.log), as
    # bin/*.sh would set it up.
    with open(os.path.join(conf, "log4j.properties"), "w") as f:
      f.write("rootLogger.level = INFO\n"
              "rootLogger.appenderRef.file.ref = File\n"
              "appender.file.name = File\n"
              "appender.file.type = File\n"
              "appender.file.fileName = ${sys:log.file}\n"
              "appender.file.layout.type = PatternLayout\n"
              "appender.file.layout.pattern = %d %-5p %c - %m%n\n")
    return conf

  def _memory_args(self, home: str, lib: str, conf: str, which: str):
    """JVM options and dynamic settings, as bin/*.sh get them (`lib`: the
    classpath of Flink's lib/ jars)."""
    cp = os.pathsep.join([os.path.join(home, "bin", "bash-java-utils.jar"),
                          lib])
    out = subprocess.run(
        ["java", "-cp", cp, "org.apache.flink.runtime.util.bash.BashJavaUtils",
         f"GET_{which}_RESOURCE_PARAMS", "--configDir", conf],
        capture_output=True, text=True, check=True).stdout
    results = [line.split(":", 1)[1] for line in out.splitlines()
               if line.startswith("BASH_JAVA_UTILS_EXEC_RESULT:")]
    return results[0].split(), results[1].split() if len(results) > 1 else []

  def start(self, timeout: float = 120.0):
    home = distribution(*FLINK)
    conf = self._config()
    cp = os.pathsep.join(sorted(glob.glob(os.path.join(home, "lib", "*.jar"))))
    # Beam's Flink runner on the cluster's classpath, after Flink's own
    # jars: jobs then need not bring it (beam_args' StageNothing).
    beam = os.pathsep.join([cp, *beam_jars("flink")])
    taskmanagers = [("taskmanager" if self.workers == 1 else
                     f"taskmanager-{i + 1}", "TM",
                     "org.apache.flink.runtime.taskexecutor.TaskManagerRunner")
                    for i in range(self.workers)]
    for name, which, main in [
        ("jobmanager", "JM",
         "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint"),
        *taskmanagers]:
      jvm, dynamic = self._memory_args(home, cp, conf, which)
      logging = [f"-Dlog.file={os.path.join(self.work_dir, name)}-flink.log",
                 "-Dlog4j.configurationFile=file:" +
                 os.path.join(conf, "log4j.properties")]
      process, log = self._start(name, ["java", *JAVA17_OPENS, *JIT, *jvm,
                                        *logging, "-cp", beam, main,
                                        "--configDir", conf, *dynamic])
      if name == "jobmanager":
        url = f"http://{self.master}/overview"
        _wait_until(lambda: _http_answers(url), url, process, log, timeout)
    self._wait_for_count(f"http://{self.master}/overview", "taskmanagers",
                         "taskmanager", timeout, self.workers)
    self._start_job_server("flink", ["--flink-master", self.master], timeout)
    return self

  def beam_args(self) -> List[str]:
    return ["--runner=FlinkRunner", f"--flink_master={self.master}",
            f"--job_endpoint={self.job_endpoint}", "--parallelism=2",
            STAGE_NOTHING]


class SparkCluster(_Daemons):
  """A Spark standalone cluster: one master and 2 cores, on one worker or,
  with `workers=2`, one on each of two worker processes."""

  def __init__(self, work_dir: str, port: int = 0, workers: int = 1):
    super().__init__(work_dir)
    self.port = port or free_port()
    self.ui_port = free_port()
    self.workers = workers

  @property
  def master(self) -> str:
    """The value of --spark_master_url."""
    return f"spark://127.0.0.1:{self.port}"

  def start(self, timeout: float = 120.0):
    home = distribution(*SPARK)
    spark_class = os.path.join(home, "bin", "spark-class")
    env = {"SPARK_HOME": home, "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_DAEMON_JAVA_OPTS": " ".join(JIT),
           "SPARK_LOCAL_DIRS": os.path.join(self.work_dir, "tmp"),
           "SPARK_WORKER_DIR": os.path.join(self.work_dir, "work")}
    process, log = self._start("master", [
        spark_class, "org.apache.spark.deploy.master.Master",
        "--host", "127.0.0.1", "--port", str(self.port),
        "--webui-port", str(self.ui_port)], env)
    url = f"http://127.0.0.1:{self.ui_port}/json/"
    _wait_until(lambda: _http_answers(url), url, process, log, timeout)
    for i in range(self.workers):
      name = "worker" if self.workers == 1 else f"worker-{i + 1}"
      self._start(name, [
          spark_class, "org.apache.spark.deploy.worker.Worker",
          # Room for one executor of SPARK_EXECUTOR_MEMORY up to 6 GB (the
          # job server, Spark's driver, asks for 1 GB unless that is set).
          "--host", "127.0.0.1", "--cores", str(max(1, 2 // self.workers)),
          "--memory", "6g", "--webui-port", str(free_port()),
          "--work-dir", os.path.join(self.work_dir, name), self.master],
          env)
    self._wait_for_count(f"http://127.0.0.1:{self.ui_port}/json/",
                         "aliveworkers", "worker", timeout, self.workers)
    # The job server is Spark's driver, and asks for executors of 1 GB
    # unless told: too little for 5M rows.
    self._start_job_server(
        "spark", ["--spark-master-url", self.master], timeout,
        {"SPARK_EXECUTOR_MEMORY": os.environ.get("SPARK_EXECUTOR_MEMORY",
                                                 "4g")},
        [f"-Dspark.executor.extraJavaOptions={' '.join(JIT)}",
         # Beam's Spark runner on the executors' classpath (what Spark's
         # own jars lack): jobs then need not bring it (StageNothing).
         "-Dspark.executor.extraClassPath=" + os.pathsep.join(beam_jars(
             "spark", glob.glob(os.path.join(home, "jars", "*.jar"))))])
    return self

  def beam_args(self) -> List[str]:
    return ["--runner=SparkRunner", f"--spark_master_url={self.master}",
            f"--job_endpoint={self.job_endpoint}", STAGE_NOTHING]


def serve_cluster(kind: str, directory: str, workers: int = 1) -> int:
  """`crmsync dev flink|spark`: a cluster in the foreground until Ctrl-C."""
  cluster = (FlinkCluster if kind == "flink" else SparkCluster)(
      directory, workers=workers)
  started = time.monotonic()
  cluster.start()
  print(f"{kind} cluster up on {cluster.master} ({workers} "
        f"{'TaskManager' if kind == 'flink' else 'worker'}"
        f"{'s' if workers > 1 else ''}; job server on "
        f"{cluster.job_endpoint}) in "
        f"{time.monotonic() - started:.1f} s (logs in {directory}).\n"
        f"In another shell:\n"
        f"  crmsync run configs/demo.yaml {' '.join(cluster.beam_args())}\n"
        f"Ctrl-C stops it.", flush=True)
  return serve_until_stopped(cluster.processes[0], cluster.stop)
