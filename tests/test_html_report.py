"""reports/report.html (transforms/html_report.py) in a real headless
browser: Debian's Chromium (`apt-get install chromium`; .ci/run installs
it), with no network, as a person opens the file."""

import os
import re
import shutil
import subprocess

import pytest

from conftest import files_in
from crmsync.pipelines.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "demo.yaml")
CHARTS = 5  # matches, fill rate, conflicts, rejected rows, scores


def _chromium(tmp_path, *args):
  """Headless Chromium with the flags a closed network needs (no
  background connections, no sandbox as root); (stdout, stderr)."""
  chromium = shutil.which("chromium")
  assert chromium, "Chromium is not installed (apt-get install chromium)"
  done = subprocess.run(
      [chromium, "--headless", "--no-sandbox", "--disable-gpu",
       "--disable-quic", "--no-first-run", "--disable-background-networking",
       "--disable-component-update", "--disable-sync",
       f"--user-data-dir={tmp_path}/profile", "--enable-logging=stderr",
       "--v=0", "--virtual-time-budget=15000", *args],
      capture_output=True, text=True, timeout=180)
  return done.stdout, done.stderr


def test_the_report_renders_its_charts_in_chromium(tmp_path):
  out = str(tmp_path / "out")
  assert main(["run", CONFIG, "--quiet", f"--set=output.path={out}/merged",
               f"--set=output.reports={out}/reports"]) == 0
  page = os.path.join(out, "reports", "report.html")
  with open(page, encoding="utf-8") as f:
    text = f.read()
  # Self-contained: no script, style or font fetched from anywhere.
  assert not re.search(r"<(script|link)[^>]+(src|href)=", text)
  dom, log = _chromium(tmp_path, "--dump-dom", f"file://{page}")
  for i in range(1, CHARTS + 1):
    chart = dom.split(f'id="chart-{i}"', 1)
    assert len(chart) == 2, f"chart {i} missing"
    assert 'class="main-svg"' in chart[1].split('id="chart-', 1)[0], \
        f"chart {i} did not render"
  assert "Matches per vendor, by key" in dom and "email_vendor" in dom
  console = [line for line in log.splitlines() if "CONSOLE" in line]
  assert not [line for line in console
              if re.search(r"error|uncaught", line, re.I)], console
  shot = tmp_path / "report.png"
  _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2600",
            "--hide-scrollbars", f"file://{page}")
  data = shot.read_bytes()
  assert data[:8] == b"\x89PNG\r\n\x1a\n"
  assert len(data) > 50_000  # charts, not a blank page


def test_the_report_is_the_same_bytes_for_the_same_run(tmp_path):
  """Chart ids are fixed: two runs of one job give one report.html."""
  out = {}
  for run in ("a", "b"):
    folder = str(tmp_path / run)
    assert main(["run", CONFIG, "--quiet",
                 f"--set=output.path={tmp_path}/out/merged",
                 f"--set=output.reports={folder}"]) == 0
    out[run] = files_in(folder)["report.html"]
  assert out["a"] == out["b"]


def test_a_reason_quoting_a_script_tag_cannot_end_the_charts_script():
  """A rejection reason quotes the bad cell: "</script>" in it stays text
  inside the chart's data."""
  from crmsync.transforms.html_report import render
  summary = {"original": {"rows_read": 3, "rows_written": 2},
             "rows_matched": 1, "match_rate": 0.5, "rows_rejected": 1,
             "enriched": {}, "fill_rate": {"Email": {"before": 0.5,
                                                     "after": 1.0}},
             "conflicts": {}}
  reason = "bad Email '</script><script>alert(1)</script>'"
  page = render(summary, {"crm.csv": {reason: [1]}}, {}, "t")
  charts = page.count('class="plotly-graph-div"')
  assert charts == 3  # fill rate, conflicts, rejected rows
  assert page.count("</script>") == 1 + charts  # plotly.js, then each chart
  assert "<script>alert(1)<\\/script>" in page
