"""transforms/progress.py: the throttled progress line."""

import logging

import pytest

from crmsync.transforms import progress
from crmsync.transforms.progress import Progress


class _Clock:

  def __init__(self):
    self.now = 1000.0

  def __call__(self):
    return self.now


@pytest.fixture
def clock(monkeypatch):
  c = _Clock()
  monkeypatch.setattr(progress.time, "monotonic", c)
  return c


def _lines(caplog):
  return [r.getMessage() for r in caplog.records
          if r.name == "crmsync.progress"]


def test_a_line_at_most_every_few_seconds_with_the_count_and_rate(
    clock, caplog):
  caplog.set_level(logging.INFO, "crmsync.progress")
  p = Progress("read original", every_seconds=5)
  clock.now += 1
  p.add(1000)  # 1 s in: too soon
  assert _lines(caplog) == []
  clock.now += 4
  p.add(1500)  # 5 s in: a line
  clock.now += 2
  p.add(500)  # 2 s after it: too soon
  clock.now += 5
  p.add(9000)  # 12 s in
  assert _lines(caplog) == [
      "read original: 2,500 rows so far (500 rows/s)",
      "read original: 12,000 rows so far (1,000 rows/s)"]


def test_every_seconds_comes_from_the_environment_by_default(
    clock, caplog, monkeypatch):
  caplog.set_level(logging.INFO, "crmsync.progress")
  monkeypatch.setenv("CRMSYNC_PROGRESS_SECONDS", "0")
  p = Progress("merged")
  p.add(3)
  p.add(4)
  assert len(_lines(caplog)) == 2
  assert _lines(caplog)[-1].startswith("merged: 7 rows so far (")
  monkeypatch.setenv("CRMSYNC_PROGRESS_SECONDS", "60")
  caplog.clear()
  p = Progress("merged")
  clock.now += 59
  p.add(10)
  assert _lines(caplog) == []
  clock.now += 1
  p.add(10)
  assert _lines(caplog) == ["merged: 20 rows so far (0 rows/s)"]


def test_the_default_is_five_seconds(clock, caplog, monkeypatch):
  caplog.set_level(logging.INFO, "crmsync.progress")
  monkeypatch.delenv("CRMSYNC_PROGRESS_SECONDS", raising=False)
  p = Progress("merged")
  clock.now += 4.9
  p.add(1)
  assert _lines(caplog) == []
  clock.now += 0.1
  p.add(1)
  assert len(_lines(caplog)) == 1


def test_a_line_in_the_first_instant_does_not_divide_by_zero(clock, caplog):
  caplog.set_level(logging.INFO, "crmsync.progress")
  Progress("merged", every_seconds=0).add(5)
  [line] = _lines(caplog)
  assert line.startswith("merged: 5 rows so far (") and line.endswith(
      " rows/s)")


def test_nothing_is_logged_below_info(clock, caplog):
  caplog.set_level(logging.WARNING, "crmsync.progress")
  p = Progress("merged", every_seconds=0)
  clock.now += 10
  p.add(5)
  assert _lines(caplog) == []
