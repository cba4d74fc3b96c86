"""`crmsync suggest`: a job config from a sample of the files themselves.

    crmsync suggest --original crm.csv --enriched vendor.csv ... [-o job.yaml]

Each enriched column is mapped onto an original column by, in order: the
same name, a known alias of the same field ("E-mail Address" and "Email",
"Mobile" and "Phone", "Postal Code" and "Zip"), or values of the same kind
(emails, phones, ZIPs, URLs) in both; the rest become new columns. Match
keys (email, phone, name + ZIP, name + company) are ordered by how unique
and how well filled they are in the original's sample, and each key's match
rate on the samples is measured by the job's own code (transforms/matching.py:
`key_values` for an original row's key, as Merge looks it up; `key_pairs`
for an enriched row's, as its index holds them), so the two cannot differ.
"""

import csv
import datetime
import difflib
import io
import json
import re
from dataclasses import dataclass, field
from typing import Dict, List, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crmsync.transforms import validity
from crmsync.transforms.csv_dialect import (CsvFormat, compression_of,
                                           open_input, read_view)
from crmsync.transforms.csv_files import read_header
from crmsync.transforms.errors import InputError
from crmsync.transforms.matching import key_pairs, key_values
from crmsync.transforms.spec import MatchKey, MergeSpec

# Field -> header spellings (compared lowercase, letters and digits only).
ALIASES = {
    "email": ["email", "e-mail", "e-mail address", "email address", "mail",
              "work email", "business email", "emailaddress"],
    "phone": ["phone", "mobile", "mobile phone", "cell", "cell phone",
              "telephone", "phone number", "tel", "direct phone",
              "work phone"],
    "first": ["first", "first name", "firstname", "given name", "fname"],
    "last": ["last", "last name", "lastname", "surname", "family name",
             "lname"],
    "zip": ["zip", "zip code", "zipcode", "postal code", "postcode",
            "postal"],
    "company": ["company", "company name", "organization", "organisation",
                "account", "account name", "employer"],
    "title": ["title", "job title", "position", "role"],
    "city": ["city", "town"],
    "state": ["state", "province", "region"],
    "url": ["website", "url", "web", "homepage", "domain"],
}
# The `match.phone_region` a suggested config is written with, and the region
# `suggest` reads its samples' phones and ZIPs in.
PHONE_REGION = "US"
ZIP = re.compile(r"^\d{5}(-\d{4})?$")
URL = re.compile(r"^(https?://|www\.)\S+$", re.I)
# Candidate keys: (name, normalizers, the fields their columns are).
KEYS = [("email", ["email"], ["email"]),
        ("phone", ["phone"], ["phone"]),
        ("name_zip", ["name", "name", "zip"], ["first", "last", "zip"]),
        ("name_company", ["name", "name", "company"],
         ["first", "last", "company"])]


def _plain(name: str) -> str:
  return re.sub(r"[^a-z0-9]", "", name.lower())


_ALIAS_OF = {_plain(a): f for f, names in ALIASES.items() for a in names}


def field_of(column: str) -> str:
  """The field a column's name says it holds ("Given Name": first), or ''."""
  return _ALIAS_OF.get(_plain(column), "")


@dataclass
class Sample:
  path: str
  header: List[str]
  rows: List[List[str]]
  kinds: Dict[str, str] = field(default_factory=dict)  # column -> kind
  fill: Dict[str, float] = field(default_factory=dict)

  def column(self, name: str) -> pa.Array:
    i = self.header.index(name)
    return pa.array([r[i] if i < len(r) else "" for r in self.rows],
                    pa.string())


def _default_format(path: str) -> CsvFormat:
  """A comma-separated UTF-8 file, compressed as its name says."""
  return CsvFormat(compression=compression_of(path))


def read_sample(path: str, rows: int, fmt: CsvFormat = CsvFormat(), *,
                phone_region: str = PHONE_REGION) -> Sample:
  """The header and the first `rows` records of `path`, with each column's
  fill rate and kind (phones and ZIPs read as in `phone_region`, a
  two-letter ISO 3166-1 code)."""
  header = read_header(path, fmt)
  limit = header.data_start + max(1 << 20, rows * 2048)
  with open_input(path, fmt) as f:
    data = read_view(f, fmt, limit)  # as the reader sees the file
  text = data[header.data_start:].decode(
      fmt.encoding if fmt.in_place else "utf-8", errors="replace")
  records = []
  reader = csv.reader(io.StringIO(text, newline=""), delimiter=fmt.delimiter,
                      escapechar=fmt.escape)
  try:
    for record in reader:
      if record:
        records.append(record)
      if len(records) > rows:
        break
  except csv.Error:
    pass  # a record cut at the end of what was read
  sample = Sample(path, list(header.names), records[:rows])
  for name in sample.header:
    values = sample.column(name)
    filled = pc.sum(pc.not_equal(pc.utf8_trim_whitespace(values), "")
                    ).as_py() or 0
    sample.fill[name] = filled / max(len(values), 1)
    sample.kinds[name] = _kind(name, values, phone_region)
  return sample


def _valid_share(values: pa.Array, kind: str, phone_region: str) -> float:
  """The share (0 to 1) of the non-blank `values` that are valid values of
  `kind` (one of validity.VALIDATED) as the job judges an enriched value:
  validity.check, with the kind's normalizer; 0 when all are blank."""
  filled = pc.sum(pc.not_equal(pc.utf8_trim_whitespace(values), "")
                  ).as_py() or 0
  if not filled:
    return 0.0
  reasons = validity.invalid_reasons(values, kind, phone_region)
  invalid = 0 if reasons is None else len(reasons) - reasons.null_count
  return (filled - invalid) / filled


def _kind(name: str, values: pa.Array, phone_region: str) -> str:
  """A column's field: by its values where they are telling, else by its
  header."""
  filled = [v for v in values.to_pylist() if v and v.strip()]
  if filled:
    if _valid_share(values, "email", phone_region) > 0.6:
      return "email"
    if sum(bool(ZIP.match(v.strip())) for v in filled) / len(filled) > 0.8:
      return "zip"
    if sum(bool(URL.match(v.strip())) for v in filled) / len(filled) > 0.6:
      return "url"
    digits = sum(sum(c.isdigit() for c in v) >= 7 for v in filled)
    if (digits / len(filled) > 0.8 and
        _valid_share(values, "phone", phone_region) > 0.6):
      return "phone"
  return _ALIAS_OF.get(_plain(name), "text")


def map_columns(original: Sample, enriched: Sample) -> Dict[str, tuple]:
  """Enriched column -> (original column, why) for those that map."""
  by_plain = {_plain(c): c for c in original.header}
  mapped, taken = {}, set()

  def take(column, target, why):
    if target not in taken:
      mapped[column], _ = (target, why), taken.add(target)

  for column in enriched.header:  # the same name
    if _plain(column) in by_plain:
      take(column, by_plain[_plain(column)], "same name")
  for column in enriched.header:  # an alias of the same field
    alias = _ALIAS_OF.get(_plain(column))
    if column in mapped or not alias:
      continue
    target = next((c for c in original.header
                   if _ALIAS_OF.get(_plain(c)) == alias), None)
    if target:
      take(column, target, f"alias of {alias}")
  for column in enriched.header:  # values of the same kind
    kind = enriched.kinds[column]
    if column in mapped or kind in ("text", "first", "last", "title",
                                    "city", "state", "company"):
      continue
    target = next((c for c in original.header if original.kinds[c] == kind
                   and c not in taken), None)
    if target:
      take(column, target, f"values are {kind}s")
  for column in enriched.header:  # a close spelling
    if column in mapped:
      continue
    close = difflib.get_close_matches(column, [c for c in original.header
                                               if c not in taken], 1, 0.85)
    if close:
      take(column, close[0], "similar name")
  return mapped


def _field_columns(sample: Sample) -> Dict[str, str]:
  """Field -> column of `sample`, by its values' kind or its header."""
  found = {}
  for column in sample.header:
    for kind in (sample.kinds[column], _ALIAS_OF.get(_plain(column))):
      if kind and kind not in found:
        found[kind] = column
  return found


def _key_table(sample: Sample, key: MatchKey, rename=None) -> pa.Table:
  """The sample's columns that `key` reads, named as the job names them
  (`rename`: the source's mapping, sample column -> job column)."""
  inverse = {v: k for k, v in (rename or {}).items()}
  return pa.table({c: sample.column(inverse.get(c, c))
                   for c in dict.fromkeys(key.columns)})


def _key_values(sample: Sample, key: MatchKey, phone_region: str) -> pa.Array:
  """The key of each sampled original row, computed as Merge computes an
  original batch's (matching.key_values): a string array, one value per
  row, null where a part has no key."""
  return key_values(_key_table(sample, key), key, phone_region)


def _share_found(sample: Sample, key: MatchKey, spec: MergeSpec,
                 present: pa.Array, rename=None) -> float:
  """The share (0 to 1) of the enriched sample's rows whose `key` is in
  `present` (the original sample's keys): the rows the job matches on it.
  The row's keys are the enriched index's (matching.key_pairs: one per
  value of a multi-valued email or phone cell), a row counted once."""
  values, rows = key_pairs(_key_table(sample, key, rename), key, spec)
  found = pc.is_in(values, value_set=present).to_numpy(zero_copy_only=False)
  return len(np.unique(rows[found])) / max(len(sample.rows), 1)


@dataclass
class KeyProfile:
  name: str
  normalize: List[str]
  columns: List[str]
  unique: float
  filled: float
  match_rates: Dict[str, float]

  @property
  def order(self) -> tuple:
    """Identifying keys (unique on 99.5% of the sample or more) first, by
    fill rate; then the others by uniqueness x fill rate: a key shared by
    two people matches the wrong one."""
    identifying = self.unique >= 0.995
    return (not identifying, -(self.filled if identifying else
                               self.unique * self.filled))


def profile_keys(original: Sample, enriched: Sequence[Sample],
                 mappings: Sequence[Dict[str, tuple]]) -> List[KeyProfile]:
  fields = _field_columns(original)
  spec = MergeSpec(tuple(original.header), (), phone_region=PHONE_REGION)
  profiles = []
  for name, normalize, needs in KEYS:
    if not all(f in fields for f in needs):
      continue
    columns = [fields[f] for f in needs]
    key = MatchKey(name, tuple(columns), tuple(normalize))
    values = _key_values(original, key, PHONE_REGION)
    present = values.filter(values.is_valid())
    filled = len(present) / max(len(values), 1)
    unique = (len(pc.unique(present)) / len(present)) if len(present) else 0
    rates = {}
    for sample, mapping in zip(enriched, mappings):
      rename = {c: t for c, (t, _) in mapping.items()}
      mapped = set(rename.get(c, c) for c in sample.header)
      if not all(c in mapped for c in columns):
        continue
      rates[sample.path] = _share_found(sample, key, spec, present, rename)
    if rates:
      profiles.append(KeyProfile(name, normalize, columns, unique, filled,
                                 rates))
  return sorted(profiles, key=lambda k: k.order)


def _name_of(path: str) -> str:
  stem = path.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
  return re.sub(r"[^A-Za-z0-9_]", "_", stem)


def write_config(original: Sample, enriched: Sequence[Sample], mappings,
                 keys: List[KeyProfile], sample_rows: int,
                 output: str) -> str:
  j = json.dumps
  lines = [
      f"# Written by `crmsync suggest` on {datetime.date.today()} from the "
      f"first {sample_rows:,} rows",
      "# of each file. Check the mapping and the keys, then run it:",
      "#   crmsync validate THIS_FILE && crmsync run THIS_FILE",
      "original:", f"  path: {j(original.path)}", "enriched:"]
  for sample, mapping in zip(enriched, mappings):
    rename = {c: t for c, (t, why) in mapping.items() if c != t}
    new = [c for c in sample.header if c not in mapping]
    lines += [f"  - path: {j(sample.path)}",
              f"    name: {_name_of(sample.path)}"]
    for column, (target, why) in mapping.items():
      lines.append(f"    # {column} -> {target}: {why}")
    if rename:
      lines.append("    columns: {" + ", ".join(
          f"{j(c)}: {j(t)}" for c, t in rename.items()) + "}")
    kept = [t for t, _ in mapping.values()] + new
    lines.append(f"    keep: [{', '.join(j(c) for c in kept)}]"
                 "   # mapped columns fill blanks; new ones are added")
  lines += ["match:", f"  phone_region: {PHONE_REGION}",
            "  keys:   # identifying keys first, by fill rate; then by "
            "uniqueness x fill"]
  for k in keys:
    rates = ", ".join(f"{_name_of(p)} {r:.0%}"
                      for p, r in k.match_rates.items())
    norm = j(k.normalize[0]) if len(k.normalize) == 1 else (
        "[" + ", ".join(k.normalize) + "]")
    lines.append(f"    - {{name: {k.name}, normalize: {norm}, columns: "
                 f"[{', '.join(j(c) for c in k.columns)}]}}")
    lines.append(f"      # unique {k.unique:.0%}, filled {k.filled:.0%} in "
                 f"the original; matches on the samples: {rates}")
  lines += ["conflicts:", "  default: fill_empty   # a blank original cell "
            "is filled; a filled one is kept", "duplicates: first",
            "output:", f"  path: {j(output)}", "  shards: 4", ""]
  return "\n".join(lines)


def profile_text(original: Sample, enriched: Sequence[Sample],
                 keys: List[KeyProfile]) -> str:
  out = []
  for sample in [original, *enriched]:
    out.append(f"{sample.path} ({len(sample.rows):,} rows sampled)")
    for c in sample.header:
      out.append(f"  {c:<28} {sample.kinds[c]:<8} filled "
                 f"{sample.fill[c]:.0%}")
  out.append("keys (in cascade order):")
  for k in keys:
    rates = ", ".join(f"{_name_of(p)} {r:.0%}"
                      for p, r in k.match_rates.items())
    out.append(f"  {k.name:<14} unique {k.unique:.0%}, filled "
               f"{k.filled:.0%}; expected match rate: {rates}")
  return "\n".join(out)


def suggest(original_path: str, enriched_paths: Sequence[str],
            sample_rows: int = 20_000, output: str = "out/merged") -> tuple:
  """(config text, profile text)."""
  original = read_sample(original_path, sample_rows,
                         _default_format(original_path))
  enriched = [read_sample(p, sample_rows, _default_format(p))
              for p in enriched_paths]
  mappings = [map_columns(original, e) for e in enriched]
  keys = profile_keys(original, enriched, mappings)
  if not keys:
    raise InputError("no match key found: the enriched files share no "
                     "email, phone, name + ZIP or name + company columns "
                     "with the original; write the mapping by hand")
  return (write_config(original, enriched, mappings, keys, sample_rows,
                       output), profile_text(original, enriched, keys))


def sample_match_rates(plan, rows: int = 20_000) -> List[str]:
  """For `crmsync validate`: per source and key of a planned job, the share
  of the enriched sample's rows whose key is in the original sample (first
  `rows` rows of the first file of each), keys computed by the job's own
  code in `match.phone_region` (see `_share_found`). Returns the lines to
  print, percentages."""
  spec = plan.spec
  region = spec.phone_region
  original = read_sample(plan.original_files[0], rows, plan.original_fmt,
                         phone_region=region)
  lines = [f"match rates on the first {rows:,} rows of each file:"]
  present = {}  # key name -> the original sample's keys, computed once
  for source in plan.sources:
    sample = read_sample(source.files[0], rows, source.fmt,
                         phone_region=region)
    rename = source.spec.rename
    mapped = {rename.get(c, c) for c in sample.header}
    found = []
    for key in spec.keys:
      if key.name not in source.keys or not all(c in mapped
                                                for c in key.columns):
        continue
      if key.fuzzy:  # equal values on a sample say nothing of its scores
        found.append(f"{key.name} (scored in the run; try --sample)")
        continue
      if key.name not in present:
        mine = _key_values(original, key, region)
        present[key.name] = mine.filter(mine.is_valid())
      share = _share_found(sample, key, spec, present[key.name], rename)
      found.append(f"{key.name} {share:.0%}")
    lines.append(f"  {source.spec.name}: {', '.join(found) or '-'}")
  return lines
