"""Deterministic synthetic CRM data for the benchmarks.

    python benchmarks/generate.py SIZE [--out benchmarks/data]

SIZE: a row count or 220k, 1m, 5m. Writes DIR/SIZE/: crm.csv (SIZE rows) and
three enriched files of about 20% of SIZE each, matching on email, phone and
first+last+zip, with formatting noise (case, spaces, phone formats, ZIP+4,
accents), duplicate keys, conflicting titles, quoted newlines in notes, and
about 1% of rows that match nothing; plus job.yaml, the crmsync config.

The noise stays within what the DuckDB script in run.py normalises the same
way, so the two outputs can be compared row for row.
"""

import argparse
import os
import sys

import numpy as np

FIRST = np.array(["James", "Mary", "John", "Patricia", "Robert", "Jennifer",
                  "Michael", "Linda", "William", "Elizabeth", "David",
                  "Barbara", "Richard", "Susan", "Joseph", "Jessica",
                  "Thomas", "Sarah", "Charles", "Karen", "José", "Zoë",
                  "Renée", "François", "Ana", "Wei", "Priya", "Mohammed",
                  "Olga", "Hiro"])
LAST = np.array(["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia",
                 "Miller", "Davis", "Rodriguez", "Martinez", "Hernandez",
                 "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas",
                 "Taylor", "Moore", "Jackson", "Martin", "Lee", "Pérez",
                 "Thompson", "White", "Harris", "Núñez", "Müller", "Nguyen",
                 "Kowalski", "Dubois"])
PLAIN = {"José": "Jose", "Zoë": "Zoe", "Renée": "Renee", "François":
         "Francois", "Pérez": "Perez", "Núñez": "Nunez", "Müller": "Muller"}
COMPANIES = np.array(["Acme Inc.", "Globex LLC", "Initech", "Umbrella Corp",
                      "Stark Industries", "Wayne Enterprises", "Hooli",
                      "Vandelay Industries", "Soylent Ltd", "Cyberdyne"])
TITLES = np.array(["VP Sales", "CTO", "Account Executive", "Engineer",
                   "Head of Marketing", "Office Manager", "CFO",
                   "Director, Operations"])
CITIES = np.array(["Austin", "Boston", "Denver", "Seattle", "Chicago"])
STATES = np.array(["TX", "MA", "CO", "WA", "IL"])
SIZES = {"220k": 219_696, "1m": 1_000_000, "5m": 5_000_000}

CONFIG = """# crmsync benchmark job ({rows} original rows)
original:
  path: {d}/crm.csv
enriched:
  - path: {d}/enriched_email.csv
    name: email_vendor
    columns: {{"E-mail Address": Email}}
    keep: [Email_Verified, LinkedIn_URL]
  - path: {d}/enriched_phone.csv
    name: phone_vendor
    columns: {{"Mobile Phone": Phone}}
    keep: [Phone, Phone_Type, Carrier]
  - path: {d}/enriched_firmo.csv
    name: firmographic
    columns: {{"First Name": First, "Last Name": Last, "Postal Code": Zip,
              "Job Title": Title}}
    keep: [Title, Industry, Employees]
match:
  phone_region: US
  keys:
    - {{name: email, normalize: email, columns: [Email]}}
    - {{name: phone, normalize: phone, columns: [Phone]}}
    - {{name: name_zip, normalize: [name, name, zip], columns: [First, Last, Zip]}}
conflicts:
  default: fill_empty
duplicates: first
output:
  path: {d}/out/merged
  shards: 4
  reports: {d}/out/reports
"""


def _q(values):
  """CSV-quotes values that need it (vectorised enough for millions)."""
  out = []
  for v in values:
    if '"' in v or "," in v or "\n" in v:
      v = '"' + v.replace('"', '""') + '"'
    out.append(v)
  return out


def _write(path, header, columns):
  with open(path, "w", encoding="utf-8", newline="") as f:
    f.write(",".join(header) + "\n")
    quoted = [_q(c) for c in columns]
    block = 200_000
    n = len(columns[0])
    for start in range(0, n, block):
      rows = zip(*(c[start:start + block] for c in quoted))
      f.write("\n".join(",".join(r) for r in rows))
      f.write("\n")


def _phone_formats(rng, digits):
  """Same numbers, written the ways CRMs and vendors write them."""
  d = digits
  style = rng.integers(0, 5, len(d))
  a, b, c = (np.char.array([x[:3] for x in d]), np.char.array(
      [x[3:6] for x in d]), np.char.array([x[6:] for x in d]))
  forms = [
      "(" + a + ") " + b + "-" + c,
      a + "-" + b + "-" + c,
      "+1 " + a + "." + b + "." + c,
      np.char.array(d),
      "1-" + a + "-" + b + "-" + c,
  ]
  out = np.empty(len(d), dtype=object)
  for k, form in enumerate(forms):
    m = style == k
    out[m] = np.asarray(form)[m]
  return out


def generate(rows: int, out_dir: str, seed: int = 7):
  rng = np.random.default_rng(seed)
  os.makedirs(out_dir, exist_ok=True)
  ids = np.arange(rows)
  first = FIRST[rng.integers(0, len(FIRST), rows)]
  last = LAST[rng.integers(0, len(LAST), rows)]
  company = COMPANIES[rng.integers(0, len(COMPANIES), rows)]
  city_i = rng.integers(0, len(CITIES), rows)
  zips = np.char.zfill(rng.integers(1000, 99999, rows).astype(str), 5)
  emails = [f"{f[0].lower()}{PLAIN.get(l, l).lower()}{i}@"
            f"{c.split()[0].lower()}.com"
            for i, f, l, c in zip(ids, first, last, company)]
  phones = [f"{a}{b:03d}{c:04d}" for a, b, c in zip(
      rng.integers(201, 990, rows), rng.integers(200, 1000, rows),
      rng.integers(0, 10000, rows))]
  title = TITLES[rng.integers(0, len(TITLES), rows)]
  blank_email = rng.random(rows) < 0.05
  blank_phone = rng.random(rows) < 0.10
  blank_title = rng.random(rows) < 0.10
  notes = np.where(rng.random(rows) < 0.02, "Met at expo.\nFollow up, Q3",
                   "")
  crm_email = np.where(blank_email, "", np.array(emails, dtype=object))
  crm_phone = np.where(blank_phone, "", _phone_formats(rng, phones))
  _write(os.path.join(out_dir, "crm.csv"),
         ["ID", "First", "Last", "Email", "Phone", "Company", "Title", "City",
          "State", "Zip", "Notes"],
         [[f"C{i}" for i in ids], list(first), list(last), list(crm_email),
          list(crm_phone), list(company),
          list(np.where(blank_title, "", title)), list(CITIES[city_i]),
          list(STATES[city_i]), list(zips), list(notes)])

  n = rows // 5
  unknown = max(1, n // 100)

  # Email vendor: case and whitespace noise, 2% duplicated rows.
  pick = rng.choice(rows, n, replace=False)
  dup = pick[rng.random(n) < 0.02]
  pick = np.concatenate([pick, dup])
  rng.shuffle(pick)
  e = np.array(emails, dtype=object)[pick]
  noise = rng.integers(0, 3, len(pick))
  e = np.where(noise == 1, np.char.upper(e.astype(str)).astype(object), e)
  e = np.where(noise == 2, " " + e.astype(str).astype(object) + " ", e)
  e = list(e) + [f"nobody{i}@unknown.example" for i in range(unknown)]
  m = len(e)
  _write(os.path.join(out_dir, "enriched_email.csv"),
         ["E-mail Address", "Email_Verified", "LinkedIn_URL"],
         [e, list(np.where(rng.random(m) < 0.8, "true", "false")),
          [f"https://www.linkedin.com/in/u{i}" for i in range(m)]])

  # Phone vendor: reformatted numbers; some rows for blank CRM phones.
  pick = rng.choice(rows, n, replace=False)
  p = list(_phone_formats(rng, [phones[i] for i in pick]))
  p += [f"(999) 555-{i % 10000:04d}" for i in range(unknown)]
  m = len(p)
  _write(os.path.join(out_dir, "enriched_phone.csv"),
         ["Mobile Phone", "Phone_Type", "Carrier"],
         [p, list(np.array(["mobile", "landline", "voip"])[
             rng.integers(0, 3, m)]),
          list(np.array(["Verizon", "AT&T", "T-Mobile", ""])[
              rng.integers(0, 4, m)])])

  # Firmographic vendor: name + zip; upper case, no accents, ZIP+4; titles
  # that disagree with the CRM's for some.
  pick = rng.choice(rows, n, replace=False)
  f = first[pick].astype(object)
  l = last[pick].astype(object)
  style = rng.integers(0, 3, n)
  f = np.where(style == 1, np.char.upper(f.astype(str)).astype(object), f)
  f = np.where(style == 2, np.array([PLAIN.get(x, x) for x in f],
                                    dtype=object), f)
  l = np.where(style == 2, np.array([PLAIN.get(x, x) for x in l],
                                    dtype=object), l)
  z = zips[pick].astype(object)
  z = np.where(rng.random(n) < 0.3, z + "-" + np.char.zfill(
      rng.integers(0, 10000, n).astype(str), 4).astype(object), z)
  t = np.where(rng.random(n) < 0.8, title[pick], TITLES[rng.integers(
      0, len(TITLES), n)])
  f = list(f) + ["Nobody"] * unknown
  l = list(l) + [f"Unknown{i}" for i in range(unknown)]
  z = list(z) + ["00000"] * unknown
  t = list(t) + ["CEO"] * unknown
  m = len(f)
  _write(os.path.join(out_dir, "enriched_firmo.csv"),
         ["First Name", "Last Name", "Postal Code", "Job Title", "Industry",
          "Employees"],
         [f, l, z, t, list(np.array(["Software", "Retail", "Finance"])[
             rng.integers(0, 3, m)]),
          list(rng.integers(1, 5000, m).astype(str))])

  with open(os.path.join(out_dir, "job.yaml"), "w") as fh:
    fh.write(CONFIG.format(rows=rows, d=out_dir))


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("size", help="row count, or 220k, 1m, 5m")
  parser.add_argument("--out", default="benchmarks/data")
  args = parser.parse_args(argv)
  rows = SIZES.get(args.size.lower()) or int(args.size)
  out = os.path.join(args.out, args.size.lower())
  generate(rows, out)
  print(f"wrote {rows} rows and three enriched files to {out}/",
        file=sys.stderr)


if __name__ == "__main__":
  main()
