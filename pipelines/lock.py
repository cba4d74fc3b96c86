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

Taking the file is atomic on local disk (exclusive create). Object stores
have no exclusive create that every S3 server supports, so there the run
writes its lease, waits SETTLE_SECONDS and reads it back: of two runs that
start within that window, the one whose write landed last goes on.
"""

import json
import os
import socket
import threading
import time
from typing import Optional

from apache_beam.io.filesystems import FileSystems

from crmsync.transforms.errors import CrmsyncError

LEASE_SECONDS = 300
RENEW_SECONDS = 60
SETTLE_SECONDS = 1.0


class PrefixLocked(CrmsyncError):
  """Another live run writes to the same output prefix."""


def lock_path(prefix: str) -> str:
  return f"{prefix}_lock.json"


class RunLock:
  """`with RunLock(prefix, run_id):` holds the prefix's lease for the
  block; raises PrefixLocked when another live run holds it."""

  def __init__(self, prefix: str, run_id: str):
    self._path, self._run_id = lock_path(prefix), run_id
    self._stop = threading.Event()
    self._renewer: Optional[threading.Thread] = None

  def __enter__(self):
    self.acquire()
    return self

  def __exit__(self, *exc):
    self.release()

  def acquire(self) -> None:
    other = _read(self._path)
    if other is not None and _alive(other):
      raise PrefixLocked(_held_by(self._path, other))
    if "://" in self._path:
      _write(self._path, self._lease())
      time.sleep(SETTLE_SECONDS)
    else:
      if other is not None:  # dead: whoever removes it first may take it
        _remove(self._path)
      try:
        _create_exclusive(self._path, self._lease())
      except FileExistsError:
        pass
    holder = _read(self._path)
    if holder is None or holder.get("run_id") != self._run_id:
      raise PrefixLocked(_held_by(self._path, holder or {}))
    self._renewer = threading.Thread(target=self._renew, daemon=True,
                                     name="crmsync-lease")
    self._renewer.start()

  def release(self) -> None:
    self._stop.set()
    if self._renewer is not None:
      self._renewer.join()
    holder = _read(self._path)
    if holder is not None and holder.get("run_id") == self._run_id:
      _remove(self._path)

  def _lease(self) -> dict:
    now = time.time()
    return {"run_id": self._run_id, "host": socket.gethostname(),
            "pid": os.getpid(), "started": now,
            "expires": now + LEASE_SECONDS}

  def _renew(self) -> None:
    started = time.time()
    while not self._stop.wait(RENEW_SECONDS):
      lease = dict(self._lease(), started=started)
      try:
        _write(self._path, lease)
      except Exception:  # the store is down: the run fails on its own
        pass


def _alive(lease: dict) -> bool:
  if time.time() > float(lease.get("expires", 0)):
    return False
  if lease.get("host") != socket.gethostname():
    return True
  try:
    os.kill(int(lease.get("pid", 0)), 0)
  except ProcessLookupError:
    return False
  except (PermissionError, ValueError, OverflowError):
    return True
  return True


def _held_by(path: str, lease: dict) -> str:
  started = time.strftime("%Y-%m-%d %H:%M:%S",
                          time.localtime(float(lease.get("started", 0))))
  return (f"{path}: run {lease.get('run_id', '?')} (host "
          f"{lease.get('host', '?')}, pid {lease.get('pid', '?')}, started "
          f"{started}) is writing to this output; wait for it to end, or "
          f"remove the file if that run is dead")


def _read(path: str) -> Optional[dict]:
  try:
    with FileSystems.open(path, compression_type="uncompressed") as f:
      lease = json.loads(f.read().decode("utf-8"))
  except (FileNotFoundError, IOError, OSError):
    return None
  except ValueError:  # half written by a killed run: dead
    return {}
  return lease if isinstance(lease, dict) else {}


def _write(path: str, lease: dict) -> None:
  if "://" not in path:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temp = f"{path}.{os.getpid()}.tmp"
    with open(temp, "w", encoding="utf-8") as f:
      json.dump(lease, f)
    os.replace(temp, path)
    return
  with FileSystems.create(path) as f:
    f.write(json.dumps(lease).encode("utf-8"))


def _create_exclusive(path: str, lease: dict) -> None:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
  with os.fdopen(fd, "w", encoding="utf-8") as f:
    json.dump(lease, f)


def _remove(path: str) -> None:
  try:
    if "://" in path:
      FileSystems.delete([path])
    else:
      os.remove(path)
  except (FileNotFoundError, IOError, OSError):
    pass
