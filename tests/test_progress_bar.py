"""The progress bar on a terminal (transforms/progress.py TerminalBar),
through `crmsync run` in a pseudo-terminal, as a person runs it; the plain
progress lines stay where stderr is not a terminal."""

import fcntl
import os
import re
import struct
import subprocess
import sys
import termios

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "demo.yaml")


def _run(tmp_path, terminal: bool, *extra):
  args = [sys.executable, "-m", "crmsync.pipelines.cli", "run", CONFIG,
          f"--set=output.path={tmp_path}/out/merged",
          f"--set=output.reports={tmp_path}/out/reports", *extra]
  env = dict(os.environ, CRMSYNC_PROGRESS_SECONDS="0")
  if not terminal:
    done = subprocess.run(args, capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr
  leader, follower = os.openpty()
  # A terminal of 120 columns, as a person's window has.
  fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0,
                                                         0))
  proc = subprocess.Popen(args, stdin=follower, stdout=follower,
                          stderr=follower, cwd=ROOT, env=env)
  os.close(follower)
  out = b""
  while True:
    try:
      chunk = os.read(leader, 1 << 16)
    except OSError:  # the terminal closed with the process
      break
    if not chunk:
      break
    out += chunk
  os.close(leader)
  assert proc.wait(timeout=300) == 0, out[-2000:]
  return out.decode("utf-8", "replace")


def test_a_terminal_shows_a_bar_of_bytes_read_and_rows_merged(tmp_path):
  out = _run(tmp_path, True)
  final = out.replace("\r", "\n").splitlines()
  bars = [line for line in final if "|" in line and "read:" in line]
  assert bars, out[-2000:]
  # The last state: every input byte read (1.6 MB), all rows merged.
  assert re.search(r"read: 100%\|.*\| 1\.\d+M/1\.\d+M ", bars[-1]), bars[-1]
  assert "10,000 rows merged" in bars[-1]
  assert "rows so far" not in out  # the bar replaces the lines
  assert "10000 original rows read, 10000 written" in out


def test_logs_keep_the_plain_progress_lines(tmp_path):
  err = _run(tmp_path, False)
  assert "merged: " in err and "rows so far" in err
  assert "%|" not in err
  err = _run(tmp_path, False, "--log-format=json")
  assert '"rows so far' not in err or "merged" in err
  assert "%|" not in err
