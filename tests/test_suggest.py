"""crmsync suggest: mapping, key order, and a config that runs; validate's
sample match rates."""

import os

import yaml

from conftest import write_csv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "data", "demo")
VENDORS = ["enriched_email.csv", "enriched_phone.csv",
           "enriched_firmographic.csv"]


def test_suggest_on_the_demo_finds_the_hand_written_mapping(cli, tmp_path):
  out = str(tmp_path / "job.yaml")
  code, stdout, err = cli("suggest", "--original",
                          f"{DEMO}/crm_export.csv", "--enriched",
                          *[f"{DEMO}/{v}" for v in VENDORS], "-o", out,
                          "--merged", str(tmp_path / "out" / "merged"))
  assert code == 0, err
  with open(out) as f:
    config = yaml.safe_load(f)
  with open(os.path.join(ROOT, "configs", "demo.yaml")) as f:
    demo = yaml.safe_load(f)
  assert [e["columns"] for e in config["enriched"]] == [
      e["columns"] for e in demo["enriched"]]
  assert [k["name"] for k in config["match"]["keys"]] == [
      "email", "phone", "name_zip"]
  assert config["match"]["keys"] == demo["match"]["keys"]
  # The profile: fill rate and type per column, match rate per key.
  assert "E-mail Address               email    filled 100%" in stdout
  assert "email          unique 100%, filled 92%; expected match rate: " \
         "enriched_email 88%, enriched_phone 28%" in stdout
  # The config runs and matches what the hand-written one matches.
  code, _, err = cli("run", out)
  assert code == 0, err
  assert "10000 original rows read, 10000 written, 7023 matched" in err


def test_suggest_maps_renamed_reordered_headers_by_alias_and_values(
    cli, tmp_path):
  people = [("Ann", "Lee", "ann@acme.com", "(555) 201-0001", "02134"),
            ("Bob", "Ray", "bob@acme.com", "555-201-0002", "10001"),
            ("Cy", "Fox", "", "555 201 0003", "94105"),
            ("Dee", "Ng", "dee@initech.com", "", "60601"),
            # Two Ann Lees in one ZIP: name + ZIP is not identifying here.
            ("Ann", "Lee", "ann.lee@initech.com", "555-201-0005", "02134")]
  original = write_csv(tmp_path / "crm.csv", [
      ["ZIP Code", "Surname", "Given Name", "Cell", "Work Email", "Notes"]] + [
      [z, l, f, p, e, "n"] for f, l, e, p, z in people])
  # Headers that say nothing: the values are emails.
  by_values = write_csv(tmp_path / "emails.csv", [["contact", "Score"]] + [
      [e.upper(), str(i)] for i, (_, _, e, _, _) in enumerate(people) if e])
  by_alias = write_csv(tmp_path / "names.csv", [
      ["Postcode", "lname", "fname", "Telephone", "Industry"]] + [
      [z, l, f, p, "Retail"] for f, l, _, p, z in people])
  out = str(tmp_path / "job.yaml")
  code, _, err = cli("suggest", "--original", original, "--enriched",
                     by_values, by_alias, "-o", out,
                     "--merged", str(tmp_path / "out" / "merged"))
  assert code == 0, err
  with open(out) as f:
    config = yaml.safe_load(f)
  assert config["enriched"][0]["columns"] == {"contact": "Work Email"}
  assert config["enriched"][1]["columns"] == {
      "Postcode": "ZIP Code", "lname": "Surname", "fname": "Given Name",
      "Telephone": "Cell"}
  keys = config["match"]["keys"]
  assert [k["name"] for k in keys] == ["email", "phone", "name_zip"]
  assert keys[2]["columns"] == ["Given Name", "Surname", "ZIP Code"]
  code, _, err = cli("run", out)
  assert code == 0, err
  assert "5 original rows read, 5 written, 5 matched" in err


def test_suggest_without_a_shared_key_is_a_clear_error(cli, tmp_path):
  original = write_csv(tmp_path / "a.csv", [["ID", "Email"], ["1", "a@b.co"]])
  other = write_csv(tmp_path / "b.csv", [["Color"], ["red"]])
  code, _, err = cli("suggest", "--original", original, "--enriched", other)
  assert code == 2
  assert err.strip().startswith("crmsync: error: no match key found")


def test_validate_prints_the_plan_and_sample_match_rates(cli):
  code, out, _ = cli("validate", os.path.join(ROOT, "configs", "demo.yaml"))
  assert code == 0
  assert "join: broadcast" in out
  assert "  email_vendor: email 88%\n" in out
  # A vendor cell of two numbers matches on either, as in the run.
  assert "  phone_vendor: email 28%, phone 82%\n" in out
  assert "  firmographic: name_zip 95%\n" in out
  assert out.strip().endswith("config OK")


def test_validate_measures_phones_in_the_jobs_region_as_the_run_does(
    job, tmp_path, cli):
  """UK numbers written nationally in the CRM and with +44 by the vendor:
  in `match.phone_region: GB` they agree, and validate's rate for the phone
  key is the share of vendor rows the run matches (a vendor cell of two
  numbers matching on either). Read as US numbers, as validate once did,
  none of the CRM's numbers has a key: 0%."""
  original = write_csv(tmp_path / "crm.csv", [
      ["ID", "Name", "Phone"],
      ["1", "Ann", "020 7946 0018"],
      ["2", "Bob", "07700 900123"],
      ["3", "Cy", "0161 496 0000"],
      ["4", "Dee", "0131 496 0001"]])
  vendor = write_csv(tmp_path / "vendor.csv", [
      ["Phone", "Tier"],
      ["+44 20 7946 0018", "gold"],
      ["+44 7700 900123", "silver"],
      ["+44 113 496 0999, +44 161 496 0000", "bronze"],
      ["+44 113 496 0998", "none"]])
  cfg = job.config(original, [{"path": vendor, "name": "vendor"}],
                   [{"name": "phone", "normalize": "phone",
                     "columns": ["Phone"]}])
  with open(cfg) as f:
    config = yaml.safe_load(f)
  config["match"]["phone_region"] = "GB"
  with open(cfg, "w") as f:
    yaml.safe_dump(config, f, sort_keys=False)

  code, out, err = cli("validate", cfg)
  assert code == 0, err
  assert "  vendor: phone 75%\n" in out

  code, _, err = cli("run", cfg)
  assert code == 0, err
  stats = job.report("stats.json")
  assert stats["original"]["rows_read"] == 4
  assert stats["enriched"]["vendor"]["matches_per_key"] == {"phone": 3}
  assert stats["enriched"]["vendor"]["original_rows_matched"] == 3
  assert {r["ID"]: r["Tier"] for r in job.dicts()} == {
      "1": "gold", "2": "silver", "3": "bronze", "4": ""}
