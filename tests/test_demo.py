"""The demo: its data is what the generator makes, and its run accounts for
every input row."""

import filecmp
import os

from crmsync.pipelines.demo_data import write_demo_data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "data", "demo")


def test_shipped_demo_data_is_the_generator_output(tmp_path):
  write_demo_data(str(tmp_path))
  for name in sorted(os.listdir(DEMO)):
    assert filecmp.cmp(os.path.join(DEMO, name), tmp_path / name,
                       shallow=False), name


def test_demo_job_accounts_for_every_row(job, cli, tmp_path):
  code, _, err = cli("run", os.path.join(ROOT, "configs", "demo.yaml"),
                     "--set", f"original.path={DEMO}/crm_export.csv",
                     *[f"--set=enriched.{i}.path={DEMO}/{n}" for i, n in
                       enumerate(["enriched_email.csv", "enriched_phone.csv",
                                  "enriched_firmographic.csv"])],
                     "--set", f"output.path={job.prefix}",
                     "--set", f"output.reports={job.reports}")
  assert code == 0, err
  stats = job.report("stats.json")
  assert stats["original"]["rows_read"] == 10_000
  assert stats["original"]["rows_written"] == 10_000
  assert len(job.output()[1]) == 10_000
  for name, e in stats["enriched"].items():
    assert e["rows_used"] + e["rows_unmatched"] + e["rows_rejected"] == (
        e["rows_read"]), name
  assert stats["enriched"]["phone_vendor"]["rows_rejected"] == 1
  assert stats["accounting"]["balanced"]
  assert 0.6 < stats["match_rate"] < 0.8
