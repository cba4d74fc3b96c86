"""The merge as a naive Beam pipeline: the peer that shows what batching buys.

ReadFromCsv (one element per row), keys normalised row by row in Python, one
CoGroupByKey per key, then one per original row to assemble it. Same keys
and fill_empty semantics as the benchmark job; output order is not restored.

    python benchmarks/naive_beam.py DATA_DIR OUT_PREFIX [Beam options]
"""

import sys
import unicodedata

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

CRM = ["ID", "First", "Last", "Email", "Phone", "Company", "Title", "City",
       "State", "Zip", "Notes"]
SOURCES = {
    "email": ("enriched_email.csv", ["Email", "Email_Verified", "LinkedIn_URL"]),
    "phone": ("enriched_phone.csv", ["Phone", "Phone_Type", "Carrier"]),
    "name_zip": ("enriched_firmo.csv", ["First", "Last", "Zip", "Title",
                                        "Industry", "Employees"]),
}
NEW = ["Email_Verified", "LinkedIn_URL", "Phone_Type", "Carrier", "Industry",
       "Employees"]


def email_key(r):
  return r["Email"].strip().lower() or None


def phone_key(r):
  d = "".join(c for c in r["Phone"] if c.isdigit())
  if len(d) == 10:
    return "+1" + d
  if len(d) == 11 and d[0] == "1":
    return "+" + d
  return None


def _name(v):
  v = unicodedata.normalize("NFKD", v.strip().lower())
  return "".join(c for c in v if not unicodedata.combining(c))


def name_zip_key(r):
  parts = [_name(r["First"]), _name(r["Last"]), r["Zip"].strip()[:5]]
  return "\x1f".join(parts) if all(parts) else None


KEYS = {"email": email_key, "phone": phone_key, "name_zip": name_zip_key}


def _read(p, label, path, names):
  return (p | f"Read{label}" >> beam.io.ReadFromCsv(
      path, names=names, header=0, dtype=str, keep_default_na=False)
          | f"Dict{label}" >> beam.Map(lambda r: dict(r._asdict())))


def _assemble(element):
  _, grouped = element
  row = dict(grouped["crm"][0])
  extra = {}
  for name in SOURCES:
    if grouped[name]:
      extra.update(grouped[name][0])
  for column in ("Phone", "Title"):
    if not row[column] and extra.get(column):
      row[column] = extra[column]
  values = [row[c] for c in CRM] + [extra.get(c, "") for c in NEW]
  return ",".join('"%s"' % v.replace('"', '""') if any(
      ch in v for ch in ',"\n') else v for v in values)


def main(data_dir, out_prefix, *beam_args):
  options = PipelineOptions(
      ["--runner=apache_beam.runners.portability.fn_api_runner.FnApiRunner",
       *beam_args])
  with beam.Pipeline(options=options) as p:
    crm = _read(p, "Crm", f"{data_dir}/crm.csv", CRM)
    matches = {"crm": crm | "ById" >> beam.Map(lambda r: (r["ID"], r))}
    for name, (file, names) in SOURCES.items():
      key = KEYS[name]
      enriched = (_read(p, name, f"{data_dir}/{file}", names)
                  | f"Key{name}" >> beam.Map(lambda r, k=key: (k(r), r))
                  | f"Has{name}" >> beam.Filter(lambda kv: kv[0] is not None))
      original = (crm
                  | f"CrmKey{name}" >> beam.Map(lambda r, k=key: (k(r),
                                                                   r["ID"]))
                  | f"CrmHas{name}" >> beam.Filter(lambda kv: kv[0]
                                                   is not None))
      matches[name] = (
          {"o": original, "e": enriched}
          | f"Join{name}" >> beam.CoGroupByKey()
          | f"Match{name}" >> beam.FlatMap(
              lambda kv: [(i, kv[1]["e"][0]) for i in kv[1]["o"]]
              if kv[1]["e"] else []))
    (matches
     | "ByRow" >> beam.CoGroupByKey()
     | "Assemble" >> beam.Map(_assemble)
     | "Write" >> beam.io.WriteToText(out_prefix, file_name_suffix=".csv",
                                      num_shards=4))


if __name__ == "__main__":
  main(*sys.argv[1:])
