"""A throttled progress line for long stages (at most one every few
seconds per worker), so a run of millions of rows shows it is alive; on a
terminal, a progress bar instead (`show_bar`)."""

import logging
import os
import threading
import time

_LOG = logging.getLogger("crmsync.progress")
_BAR = None  # the TerminalBar shown in this process, if any


class TerminalBar:
  """A progress bar on a terminal (tqdm): the inputs' bytes read of their
  total, rows merged, the rate and the time left. It shows what this
  process runs: with Beam's Python runner in the launcher, the whole job
  (workers elsewhere have no terminal; their lines go to logs)."""

  def __init__(self, total_bytes: int, stream):
    from tqdm import tqdm
    self._bar = tqdm(total=max(1, total_bytes), unit="B", unit_scale=True,
                     unit_divisor=1024, desc="read", file=stream,
                     dynamic_ncols=True, smoothing=0.1)
    self._rows = 0
    self._lock = threading.Lock()

  def read(self, nbytes: int):
    with self._lock:
      self._bar.update(max(0, min(nbytes, self._bar.total - self._bar.n)))

  def merged(self, rows: int):
    with self._lock:
      self._rows += rows
      self._bar.set_postfix_str(f"{self._rows:,} rows merged")

  def close(self):
    with self._lock:
      self._bar.update(self._bar.total - self._bar.n)  # every byte was read
      self._bar.close()


class _AboveTheBar:
  """A log handler's stream whose lines are written above the bar."""

  def __init__(self, stream):
    self._stream = stream

  def write(self, text: str):
    from tqdm import tqdm
    with tqdm.external_write_mode(file=self._stream):
      self._stream.write(text)

  def flush(self):
    self._stream.flush()


def show_bar(total_bytes: int, stream) -> TerminalBar:
  """Shows a TerminalBar in place of this process's progress lines; log
  lines to `stream` go above it."""
  global _BAR
  _BAR = TerminalBar(total_bytes, stream)
  for handler in logging.getLogger().handlers:
    if getattr(handler, "stream", None) is stream:
      handler.setStream(_AboveTheBar(stream))
  return _BAR


def hide_bar():
  global _BAR
  if _BAR is not None:
    _BAR.close()
    _BAR = None
    for handler in logging.getLogger().handlers:
      stream = getattr(handler, "stream", None)
      if isinstance(stream, _AboveTheBar):
        handler.setStream(stream._stream)


def bytes_read(nbytes: int):
  """Input bytes read, for the bar (if one is shown)."""
  if _BAR is not None:
    _BAR.read(nbytes)


class Progress:

  def __init__(self, what: str, every_seconds: float = None):
    if every_seconds is None:  # CRMSYNC_PROGRESS_SECONDS: for tests and logs
      every_seconds = float(os.environ.get("CRMSYNC_PROGRESS_SECONDS", 5))
    self._what, self._every = what, every_seconds
    self._start = self._last = time.monotonic()
    self._count = 0

  def add(self, rows: int):
    if _BAR is not None:  # the bar, not lines
      if self._what == "merged":
        _BAR.merged(rows)
      return
    self._count += rows
    now = time.monotonic()
    if now - self._last >= self._every:
      self._last = now
      rate = self._count / max(now - self._start, 1e-9)
      _LOG.info("%s: %s rows so far (%s rows/s)", self._what,
                f"{self._count:,}", f"{rate:,.0f}")
