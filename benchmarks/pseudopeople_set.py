"""A labelled set from pseudopeople's sample data, for match_quality.py.

    python -m venv /tmp/pp && /tmp/pp/bin/pip install pseudopeople==1.3.1
    /tmp/pp/bin/python benchmarks/pseudopeople_set.py benchmarks/sets/pseudopeople

pseudopeople (IHME, https://pseudopeople.readthedocs.io) simulates a US
population and the records agencies keep of it, with the noise those
records have: typos, OCR and phonetic errors, nicknames, fake names, a
household member's value copied, blanks. Its sample data (one small town)
ships with the package. This writes:

- crm.csv: the 2020 decennial census (ID, First, Last, Street, City, Zip),
  one row per person (the first where the census holds someone twice);
- vendor.csv: the 2020 W-2 and 1099 tax forms (Vendor_Ref, First Name,
  Last Name, Street, City, Zip from the mailing address), one form per
  person;
- truth.csv: each form's person's census row (blank: not in the census).

Families share a surname and an address, so the census holds look-alike
non-matches for almost every form. It runs in a venv of its own:
pseudopeople pins its own pandas and numpy.
"""

import csv
import os
import sys


def _text(*values) -> str:
  parts = [str(v) for v in values
           if v is not None and str(v) not in ("", "nan", "<NA>", "None")]
  return " ".join(parts)


def main(out_dir: str) -> int:
  import pseudopeople as psp
  census = psp.generate_decennial_census(seed=0, year=2020, verbose=False)
  forms = psp.generate_taxes_w2_and_1099(seed=0, year=2020, verbose=False)
  os.makedirs(out_dir, exist_ok=True)
  ids = {}
  with open(os.path.join(out_dir, "crm.csv"), "w", newline="",
            encoding="utf-8") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["ID", "First", "Last", "Street", "City", "Zip"])
    for r in census.itertuples(index=False):
      if r.simulant_id in ids:
        continue
      ids[r.simulant_id] = f"C{len(ids) + 1}"
      w.writerow([ids[r.simulant_id], _text(r.first_name),
                  _text(r.last_name),
                  _text(r.street_number, r.street_name, r.unit_number),
                  _text(r.city), _text(r.zipcode)])
  seen = set()
  with open(os.path.join(out_dir, "vendor.csv"), "w", newline="",
            encoding="utf-8") as f, open(
      os.path.join(out_dir, "truth.csv"), "w", newline="",
      encoding="utf-8") as t:
    w, truth = csv.writer(f, lineterminator="\n"), csv.writer(
        t, lineterminator="\n")
    w.writerow(["Vendor_Ref", "First Name", "Last Name", "Street", "City",
                "Zip", "Segment"])
    truth.writerow(["Vendor_Ref", "ID", "kind"])
    for r in forms.itertuples(index=False):
      if r.simulant_id in seen:
        continue
      seen.add(r.simulant_id)
      ref = f"F{len(seen)}"
      w.writerow([ref, _text(r.first_name), _text(r.last_name),
                  _text(r.mailing_address_street_number,
                        r.mailing_address_street_name,
                        r.mailing_address_unit_number,
                        _text(r.mailing_address_po_box) and
                        f"po box {_text(r.mailing_address_po_box)}"),
                  _text(r.mailing_address_city),
                  _text(r.mailing_address_zipcode), r.tax_form])
      person = ids.get(r.simulant_id, "")
      truth.writerow([ref, person, "pseudopeople" if person else
                      "stranger"])
  print(f"{len(ids):,} census rows, {len(seen):,} forms in {out_dir}")
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1]))
