"""Fault injection, for tests only: CRMSYNC_FAULT names a point of the run
where the process stops dead (`fault`) or a bundle fails once
(`fail_once`), so that tests can show what a kill or a runner's retry
leaves behind."""

import os

FAULT_ENV = "CRMSYNC_FAULT"


class InjectedFault(RuntimeError):
  """A bundle failed on purpose (CRMSYNC_FAULT); its retry passes."""


def fault(point: str) -> None:
  """Stops the process dead (exit 137, as SIGKILL) when CRMSYNC_FAULT is
  `point`."""
  if os.environ.get(FAULT_ENV) == point:
    os._exit(137)


def fail_once(point: str) -> None:
  """With CRMSYNC_FAULT=`point`@FOLDER, the first attempt to pass `point`
  raises InjectedFault, as a worker lost mid-bundle; a file in FOLDER
  (shared by every worker on this machine) records it, so that the
  runner's retry passes."""
  name, _, folder = os.environ.get(FAULT_ENV, "").partition("@")
  if name != point or not folder:
    return
  try:
    os.close(os.open(os.path.join(folder, point.replace(":", "-")),
                     os.O_CREAT | os.O_EXCL))
  except FileExistsError:
    return
  raise InjectedFault(f"injected fault at {point} (CRMSYNC_FAULT)")
