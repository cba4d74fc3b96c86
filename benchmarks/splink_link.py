"""The peer in match_quality.py: Splink 5 (DuckDB backend) links the same
CRM export and vendor file, trained the way Splink's own examples train a
link job, and writes its best link per original row, one to one.

    python benchmarks/splink_link.py DATA_DIR OUT.csv [--threshold 0.5]

DATA_DIR holds crm.csv (ID, First, Last, ...) and vendor.csv (Vendor_Ref,
First Name, Last Name, ...); OUT.csv gets (ID, Vendor_Ref) per link.
Comparisons follow Splink's comparison library for the columns both files
have: NameComparison for names, EmailComparison, exact phone, Jaro-Winkler
bands for company, street and city, exact ZIP.
"""

import argparse
import csv
import sys

import pandas as pd


def main(argv=None):
  parser = argparse.ArgumentParser()
  parser.add_argument("data")
  parser.add_argument("out")
  parser.add_argument("--threshold", type=float, default=0.5)
  args = parser.parse_args(argv)
  import splink.comparison_library as cl
  from splink import DuckDBAPI, Linker, SettingsCreator, block_on

  crm = pd.read_csv(f"{args.data}/crm.csv", dtype=str, keep_default_na=False)
  vendor = pd.read_csv(f"{args.data}/vendor.csv", dtype=str,
                       keep_default_na=False)
  vendor = vendor.rename(columns={"First Name": "First",
                                  "Last Name": "Last"})
  columns = [c for c in ("First", "Last", "Email", "Phone", "Company",
                         "Street", "City", "Zip")
             if c in crm.columns and c in vendor.columns]
  left = crm[["ID"] + columns].rename(columns={"ID": "unique_id"})
  right = vendor[["Vendor_Ref"] + columns].rename(
      columns={"Vendor_Ref": "unique_id"})
  for frame in (left, right):  # Splink needs blanks as nulls
    frame.replace({"": None}, inplace=True)
  comparison = {
      "First": lambda: cl.NameComparison("First"),
      "Last": lambda: cl.NameComparison("Last"),
      "Email": lambda: cl.EmailComparison("Email"),
      "Phone": lambda: cl.ExactMatch("Phone"),
      "Company": lambda: cl.JaroWinklerAtThresholds("Company"),
      "Street": lambda: cl.JaroWinklerAtThresholds("Street"),
      "City": lambda: cl.JaroWinklerAtThresholds("City"),
      "Zip": lambda: cl.ExactMatch("Zip"),
  }
  blocking = [block_on(*cols) for cols in (
      ("Email",), ("Phone",), ("First", "Last"), ("Last", "Zip"),
      ("First", "Zip"), ("Company",), ("Street",))
      if all(c in columns for c in cols)]
  settings = SettingsCreator(
      link_type="link_only",
      comparisons=[comparison[c]() for c in columns],
      blocking_rules_to_generate_predictions=blocking,
      retain_intermediate_calculation_columns=False)
  db = DuckDBAPI()
  linker = Linker([db.register(left, dataset_display_name="crm"),
                   db.register(right, dataset_display_name="vendor")],
                  settings, log_level="WARNING")
  linker.training.estimate_probability_two_random_records_match(
      [block_on(*c) for c in (("Email",), ("First", "Last", "Zip"))
       if all(x in columns for x in c)], recall=0.7)
  linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
  for rule in (("Last", "Zip"), ("First", "Zip"), ("First", "Last")):
    if all(c in columns for c in rule):
      linker.training.estimate_parameters_using_expectation_maximisation(
          block_on(*rule))
  pairs = linker.inference.predict(
      threshold_match_probability=args.threshold).as_pandas_dataframe()
  # Best link per record, one to one: greedily by probability.
  pairs = pairs.sort_values(["match_probability", "unique_id_l",
                             "unique_id_r"], ascending=[False, True, True])
  left_ids = set(left["unique_id"])
  used_l, used_r, links = set(), set(), []
  for l, r in zip(pairs["unique_id_l"], pairs["unique_id_r"]):
    if l not in left_ids:  # Splink orders the pair by its own rule
      l, r = r, l
    if l in used_l or r in used_r:
      continue
    used_l.add(l), used_r.add(r)
    links.append((l, r))
  with open(args.out, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["ID", "Vendor_Ref"])
    w.writerows(links)
  return 0


if __name__ == "__main__":
  sys.exit(main())
