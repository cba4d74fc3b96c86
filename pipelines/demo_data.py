"""Deterministic, realistic demo data: a CRM export and three vendor files.

- crm_export.csv: contacts with blanks, accents and mixed formatting;
- enriched_email.csv (email vendor): matched on email, noisy case/spacing,
  duplicates, rows for unknown people, adds Email_Verified and LinkedIn_URL;
- enriched_phone.csv (phone vendor): matched on phone (any format, sometimes
  several numbers in one cell) or email, adds Phone_Type and Carrier, fills
  blank phones and disagrees on some;
- enriched_firmographic.csv: matched on first+last name+zip (titles, ZIP+4,
  missing accents), adds Industry and Employees, disagrees on some titles.
"""

import csv
import os
import random

FIRST = ["James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael",
         "Linda", "William", "Elizabeth", "David", "Barbara", "Richard",
         "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
         "José", "Zoë", "Renée", "François", "Björn", "Siobhán", "Ana",
         "Wei", "Priya", "Mohammed"]
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller",
        "Davis", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez",
        "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson",
        "Martin", "Lee", "Pérez", "Thompson", "White", "Harris", "O'Brien",
        "Müller", "Nguyen", "Kowalski", "Søren"]
COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Stark Industries",
             "Wayne Enterprises", "Hooli", "Vandelay Industries", "Soylent",
             "Cyberdyne", "Tyrell", "Wonka", "Gringotts", "Oceanic"]
SUFFIXES = ["Inc.", "LLC", "Corp", "Ltd", "", "GmbH"]
TITLES = ["VP Sales", "CTO", "Account Executive", "Head of Marketing",
          "Engineer", "Office Manager", "CFO", "Director, Operations"]
CITIES = [("Austin", "TX", "787"), ("Boston", "MA", "021"),
          ("Denver", "CO", "802"), ("Seattle", "WA", "981"),
          ("Chicago", "IL", "606"), ("Newark", "NJ", "071")]
INDUSTRIES = ["Software", "Manufacturing", "Retail", "Healthcare",
              "Finance", "Logistics"]


def _phone(rng):
  return f"{rng.randint(201, 989)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"


def _format_phone(rng, digits):
  a, b, c = digits[:3], digits[3:6], digits[6:]
  return rng.choice([f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"+1 {a}.{b}.{c}",
                     f"{a}{b}{c}", f"1-{a}-{b}-{c}", f"+1 ({a}) {b} {c}"])


def _people(rng, n):
  people = []
  for i in range(n):
    first, last = rng.choice(FIRST), rng.choice(LAST)
    company = f"{rng.choice(COMPANIES)} {rng.choice(SUFFIXES)}".strip()
    city, state, zip3 = rng.choice(CITIES)
    domain = company.split()[0].lower() + ".com"
    email = f"{first[0].lower()}{last.lower()}{i}@{domain}".replace(
        "'", "").encode("ascii", "ignore").decode()
    people.append({
        "ID": f"C{100000 + i}", "First": first, "Last": last,
        "Email": email, "Phone": _phone(rng), "Company": company,
        "Title": rng.choice(TITLES), "City": city, "State": state,
        "Zip": f"{zip3}{rng.randint(0, 99):02d}",
    })
  return people


def _write(path, header, rows):
  with open(path, "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)


def write_demo_data(directory: str = "data/demo", rows: int = 10_000,
                    seed: int = 20261128):
  rng = random.Random(seed)
  os.makedirs(directory, exist_ok=True)
  people = _people(rng, rows)
  header = ["ID", "First", "Last", "Email", "Phone", "Company", "Title",
            "City", "State", "Zip"]
  export = []
  for p in people:
    row = dict(p)
    row["Phone"] = _format_phone(rng, p["Phone"])
    if rng.random() < 0.08:
      row["Email"] = ""
    if rng.random() < 0.15:
      row["Phone"] = ""
    if rng.random() < 0.05:
      row["Title"] = ""
    export.append([row[h] for h in header])
  _write(os.path.join(directory, "crm_export.csv"), header, export)

  # Email vendor: 45% of contacts, some twice, plus people we do not have.
  email_rows = []
  for p in rng.sample(people, int(rows * 0.45)):
    email = p["Email"]
    email = rng.choice([email, email.upper(), f"  {email} ",
                        f"{p['First']} {p['Last']} <{email}>"])
    verified = rng.choice(["true", "false", "true"])
    url = f"https://www.linkedin.com/in/{p['Last'].lower()}{p['ID'][1:]}"
    email_rows.append([email, verified, url])
    if rng.random() < 0.03:
      email_rows.append([email, "true", url + "/"])
  for i in range(int(rows * 0.02)):
    email_rows.append([f"unknown{i}@nowhere.example", "false", ""])
  rng.shuffle(email_rows)
  _write(os.path.join(directory, "enriched_email.csv"),
         ["E-mail Address", "Email_Verified", "LinkedIn_URL"], email_rows)

  # Phone vendor: matches on phone, or on email where it has one.
  phone_rows = []
  for p in rng.sample(people, int(rows * 0.35)):
    phone = _format_phone(rng, p["Phone"])
    if rng.random() < 0.05:
      phone = f"{phone}, {_format_phone(rng, _phone(rng))}"
    elif rng.random() < 0.04:
      phone = _format_phone(rng, _phone(rng))  # disagrees with the CRM
    email = p["Email"] if rng.random() < 0.3 else ""
    phone_rows.append([phone, email, rng.choice(["mobile", "landline",
                                                 "voip"]),
                       rng.choice(["Verizon", "AT&T", "T-Mobile", ""])])
  phone_rows.append(["(555) 010-9999", "", "mobile"])  # a ragged row
  _write(os.path.join(directory, "enriched_phone.csv"),
         ["Mobile Phone", "Email", "Phone_Type", "Carrier"], phone_rows)

  # Firmographic vendor: name + zip, with its own spelling of both.
  firmo_rows = []
  for p in rng.sample(people, int(rows * 0.3)):
    first = rng.choice([p["First"], p["First"].upper(), f"Dr. {p['First']}",
                        p["First"].encode("ascii", "ignore").decode()])
    last = rng.choice([p["Last"], p["Last"].lower(), f"{p['Last']} Jr."])
    zip_ = rng.choice([p["Zip"], f"{p['Zip']}-{rng.randint(0, 9999):04d}"])
    title = p["Title"] if rng.random() < 0.85 else rng.choice(TITLES)
    firmo_rows.append([first, last, zip_, title, rng.choice(INDUSTRIES),
                       str(rng.choice([10, 50, 200, 1000, 5000]))])
  _write(os.path.join(directory, "enriched_firmographic.csv"),
         ["First Name", "Last Name", "Postal Code", "Job Title", "Industry",
          "Employees"], firmo_rows)
  print(f"wrote demo data ({rows} contacts) to {directory}/")
