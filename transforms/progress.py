"""A throttled progress line for long stages (at most one every few
seconds per worker), so a run of millions of rows shows it is alive."""

import logging
import os
import time

_LOG = logging.getLogger("crmsync.progress")


class Progress:

  def __init__(self, what: str, every_seconds: float = None):
    if every_seconds is None:  # CRMSYNC_PROGRESS_SECONDS: for tests and logs
      every_seconds = float(os.environ.get("CRMSYNC_PROGRESS_SECONDS", 5))
    self._what, self._every = what, every_seconds
    self._start = self._last = time.monotonic()
    self._count = 0

  def add(self, rows: int):
    self._count += rows
    now = time.monotonic()
    if now - self._last >= self._every:
      self._last = now
      rate = self._count / max(now - self._start, 1e-9)
      _LOG.info("%s: %s rows so far (%s rows/s)", self._what,
                f"{self._count:,}", f"{rate:,.0f}")
