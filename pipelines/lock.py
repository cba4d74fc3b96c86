"""One run per output prefix at a time: a lease beside the output.

`<output.path>_lock.json` names the run that writes to the prefix: its run
id, host, process id, when it started and until when its lease holds. The
launching process renews the lease while the job runs and removes the file
when it ends. A second run that finds a live lease stops before reading
anything (exit 2), naming the other run. A lease is dead when its process
is gone (same host) or it was not renewed in time (a run killed on another
machine): a new run takes it over. Holding the lease is what makes the
clean-up safe: every other temporary folder under the prefix belongs to a
run that is no longer running.

Taking the file is atomic on local disk (under an flock of the folder, the
lease linked into place whole). Object stores
have no exclusive create that every S3 server supports, so there the run
writes its lease, waits SETTLE_SECONDS and reads it back: of two runs that
start within that window, the one whose write landed last goes on.
"""

import contextlib
import fcntl
import json
import logging
import os
import socket
import threading
import time
from typing import Optional

from crmsync.transforms.errors import CrmsyncError
from crmsync.transforms.publish import lease_path

_LOG = logging.getLogger(__name__)
LEASE_SECONDS = 300
RENEW_SECONDS = 60
SETTLE_SECONDS = 1.0


class PrefixLocked(CrmsyncError):
  """Another live run writes to the same output prefix."""


def lock_path(prefix: str) -> str:
  return lease_path(prefix)


class RunLock:
  """`with RunLock(prefix, run_id, s3):` holds the prefix's lease for the
  block; raises PrefixLocked when another live run holds it. `s3`: a boto3
  client for an s3:// prefix (one attempt per call, short timeouts: a store
  that is down must not hold the run's end for minutes of retries)."""

  def __init__(self, prefix: str, run_id: str, s3=None):
    self._path, self._run_id = lock_path(prefix), run_id
    self._store = _S3(s3) if "://" in prefix else _Local()
    self._stop = threading.Event()
    self._renewer: Optional[threading.Thread] = None

  def __enter__(self):
    self.acquire()
    return self

  def __exit__(self, *exc):
    self.release()

  def acquire(self) -> None:
    store, path = self._store, self._path
    try:
      with store.guard(path):  # local disk: one taker at a time
        other = store.read(path)
        if other is not None and _alive(other):
          raise PrefixLocked(_held_by(path, other))
        if other is not None:  # dead: taken over
          store.remove(path)
        store.create(path, self._lease())
        holder = store.read(path)
    except PrefixLocked:
      raise
    except Exception as e:  # the store refused or is down: one line
      raise PrefixLocked(f"{path}: cannot take the lease on this output "
                         f"({type(e).__name__}: {e})") from None
    if holder is None or holder.get("run_id") != self._run_id:
      raise PrefixLocked(_held_by(path, holder or {}))
    _HELD.add(self._run_id)
    self._renewer = threading.Thread(target=self._renew, daemon=True,
                                     name="crmsync-lease")
    self._renewer.start()

  def release(self) -> None:
    _HELD.discard(self._run_id)
    self._stop.set()
    if self._renewer is not None:
      self._renewer.join()
    try:
      holder = self._store.read(self._path)
      if holder is not None and holder.get("run_id") == self._run_id:
        self._store.remove(self._path)
    except Exception:  # the store is down: the lease expires on its own
      pass

  def _lease(self) -> dict:
    now = time.time()
    return {"run_id": self._run_id, "host": socket.gethostname(),
            "pid": os.getpid(), "started": now,
            "expires": now + LEASE_SECONDS}

  def _renew(self) -> None:
    started = time.time()
    while not self._stop.wait(RENEW_SECONDS):
      try:
        holder = self._store.read(self._path)
        if holder is not None and holder.get("run_id") != self._run_id:
          _LOG.warning("%s: run %s took the lease of this run (it was not "
                       "renewed in time)", self._path, holder.get("run_id"))
          return
        self._store.write(self._path, dict(self._lease(), started=started))
      except Exception:  # the store is down: the run fails on its own
        pass


# The run ids whose leases this process holds: a lease of this process
# (crmsync run from a scheduler's own Python) whose run is over is dead.
_HELD = set()


def _alive(lease: dict) -> bool:
  try:
    if time.time() > float(lease.get("expires", 0)):
      return False
  except (TypeError, ValueError):  # not a lease crmsync wrote: dead
    return False
  if lease.get("host") != socket.gethostname():
    return True
  if lease.get("pid") == os.getpid():
    return lease.get("run_id") in _HELD
  try:
    os.kill(int(lease.get("pid", 0)), 0)
  except ProcessLookupError:
    return False
  except (PermissionError, ValueError, OverflowError):
    return True
  return True


def _held_by(path: str, lease: dict) -> str:
  try:
    started = time.strftime("%Y-%m-%d %H:%M:%S",
                            time.localtime(float(lease.get("started", 0))))
  except (TypeError, ValueError, OverflowError, OSError):
    started = "?"
  return (f"{path}: run {lease.get('run_id', '?')} (host "
          f"{lease.get('host', '?')}, pid {lease.get('pid', '?')}, started "
          f"{started}) is writing to this output; wait for it to end, or "
          f"remove the file if that run is dead")


def _parse(data: bytes) -> dict:
  try:
    lease = json.loads(data.decode("utf-8"))
  except ValueError:  # half written by a killed run: dead
    return {}
  return lease if isinstance(lease, dict) else {}


class _Local:
  """Leases on local disk: taken under an flock of the output's folder,
  written whole before they appear (a link of a complete file), replaced
  atomically."""

  @contextlib.contextmanager
  def guard(self, path: str):
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)  # the output's folder: no extra file
    try:
      fcntl.flock(fd, fcntl.LOCK_EX)
      yield
    finally:
      os.close(fd)

  def read(self, path: str) -> Optional[dict]:
    try:
      with open(path, "rb") as f:
        return _parse(f.read())
    except FileNotFoundError:
      return None

  def create(self, path: str, lease: dict) -> None:
    temp = f"{path}.{os.getpid()}.new"
    with open(temp, "w", encoding="utf-8") as f:
      json.dump(lease, f)
    try:
      os.link(temp, path)  # fails if another run took it first
    except FileExistsError:
      pass
    finally:
      os.remove(temp)

  def write(self, path: str, lease: dict) -> None:
    temp = f"{path}.{os.getpid()}.tmp"
    with open(temp, "w", encoding="utf-8") as f:
      json.dump(lease, f)
    os.replace(temp, path)

  def remove(self, path: str) -> None:
    try:
      os.remove(path)
    except FileNotFoundError:
      pass


class _S3:
  """Leases on S3: a PUT, then SETTLE_SECONDS before reading it back."""

  def __init__(self, client):
    self._client = client

  @contextlib.contextmanager
  def guard(self, path: str):  # no locks on S3: see the module's docstring
    yield

  @staticmethod
  def _where(path: str):
    bucket, _, key = path[len("s3://"):].partition("/")
    return {"Bucket": bucket, "Key": key}

  def read(self, path: str) -> Optional[dict]:
    try:
      body = self._client.get_object(**self._where(path))["Body"].read()
    except self._client.exceptions.NoSuchKey:
      return None
    return _parse(body)

  def create(self, path: str, lease: dict) -> None:
    self.write(path, lease)
    time.sleep(SETTLE_SECONDS)

  def write(self, path: str, lease: dict) -> None:
    self._client.put_object(Body=json.dumps(lease).encode("utf-8"),
                            **self._where(path))

  def remove(self, path: str) -> None:
    self._client.delete_object(**self._where(path))
