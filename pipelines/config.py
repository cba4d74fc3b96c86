"""The job config: a typed model of the YAML contract in DESIGN.md.

Key names are a contract with users (add freely, rename none). Unknown keys
are errors, so a typo never silently falls back to a default. Every error
names the config file and the key path, on one line.
"""

import datetime
import os
import re
from pathlib import Path
from typing import Dict, List, Literal, Optional, Union

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError,
                      field_validator, model_validator)

from transforms import normalizers
from transforms.errors import ConfigError
from transforms.reports import MAX_REJECTED_FRACTION
from transforms.spec import (DUPLICATES, MULTI_VALUE, PLACEMENTS, STRATEGIES,
                             EnrichedSpec, FuzzyRule, MatchKey, MergeSpec)

Strategy = Literal[STRATEGIES]


class _Model(BaseModel):
  model_config = ConfigDict(extra="forbid")


def _absolute(path: Optional[str]) -> Optional[str]:
  """Local paths made absolute, against the directory crmsync runs in:
  workers of a Flink or Spark cluster run in directories of their own."""
  if not path or "://" in path:
    return path
  return os.path.abspath(os.path.expanduser(path))


class CsvOptions(_Model):
  delimiter: str = ","
  encoding: str = "utf-8"

  @field_validator("delimiter")
  @classmethod
  def _named_delimiters(cls, v):
    return {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";",
            "pipe": "|"}.get(v, v)


class OriginalInput(_Model):
  path: str
  csv: CsvOptions = CsvOptions()

  _absolute_path = field_validator("path")(_absolute)


class EnrichedInput(_Model):
  path: str
  _absolute_path = field_validator("path")(_absolute)
  name: Optional[str] = None
  columns: Dict[str, str] = {}
  keep: Optional[List[str]] = None
  csv: CsvOptions = CsvOptions()

  @property
  def label(self) -> str:
    if self.name:
      return self.name
    stem = re.split(r"[/\\]", self.path.rstrip("/"))[-1]
    return stem.rsplit(".", 1)[0] if "." in stem else stem


FUZZY = "fuzzy"
# How a column is compared (fuzzy key, confirm) by what its name says it
# holds; anything else is compared as text.
_COMPARE_AS = {"first": "name", "last": "name", "company": "company",
               "zip": "zip", "email": "email", "phone": "phone"}


def compare_kind(column: str) -> str:
  from pipelines.suggest import field_of
  return _COMPARE_AS.get(field_of(column), "text")


# Kinds of value that a normalizer can tell from noise, by column name.
_VALUE_KINDS = {"email": "email", "phone": "phone", "zip": "zip",
                "url": "url"}


def column_kinds(columns) -> Dict[str, str]:
  """Column -> the normalizer of the kind of value its name says it holds
  ("Mobile Phone": phone, "Postal Code": zip), for the columns that have
  one: they are compared and checked as that kind even in no key."""
  from pipelines.suggest import field_of
  return {c: _VALUE_KINDS[field_of(c)] for c in columns
          if field_of(c) in _VALUE_KINDS}


class KeyConfig(_Model):
  name: str
  normalize: Union[str, List[str]]
  columns: List[str] = Field(min_length=1)
  # Rejects a hit whose columns here clearly belong to another person.
  confirm: List[str] = []
  # The fuzzy key (normalize: fuzzy) only:
  compare: Optional[List[str]] = None  # normalizer per column; default: by name
  block: Optional[List[Union[str, List[str]]]] = None
  threshold: float = Field(default=FuzzyRule.threshold, gt=0, le=1)
  max_block: int = Field(default=FuzzyRule.max_block, ge=1)

  @property
  def fuzzy(self) -> bool:
    return self.normalize == FUZZY

  @model_validator(mode="after")
  def _check(self):
    if self.fuzzy:
      names = self.compare or []
      if self.compare is not None and len(names) != len(self.columns):
        raise ValueError(f"compare lists {len(names)} normalizers for "
                         f"{len(self.columns)} columns")
    else:
      for option in ("compare", "block", "threshold", "max_block"):
        if option in self.model_fields_set:
          raise ValueError(f"{option} applies to a fuzzy key only "
                           f"(normalize: fuzzy)")
      names = ([self.normalize] * len(self.columns)
               if isinstance(self.normalize, str) else self.normalize)
      if len(names) != len(self.columns):
        raise ValueError(f"normalize lists {len(names)} normalizers for "
                         f"{len(self.columns)} columns")
    for n in names:
      if n not in normalizers.NORMALIZERS:
        raise ValueError(f"unknown normalizer {n!r} (known: "
                         f"{', '.join(normalizers.NORMALIZERS)}"
                         f"{'' if self.fuzzy else ', fuzzy'})")
    return self

  def to_key(self) -> MatchKey:
    confirm = dict(confirm=tuple(self.confirm), confirm_normalizers=tuple(
        compare_kind(c) for c in self.confirm))
    if self.fuzzy:
      kinds = self.compare or [compare_kind(c) for c in self.columns]
      blocks = tuple((b,) if isinstance(b, str) else tuple(b)
                     for b in self.block or ())
      rule = FuzzyRule(self.threshold, blocks, self.max_block)
      return MatchKey(self.name, tuple(self.columns), tuple(kinds),
                      fuzzy=rule, **confirm)
    names = ([self.normalize] * len(self.columns)
             if isinstance(self.normalize, str) else self.normalize)
    return MatchKey(self.name, tuple(self.columns), tuple(names), **confirm)


class MatchConfig(_Model):
  phone_region: str = "US"
  keys: List[KeyConfig] = Field(min_length=1)

  @field_validator("keys")
  @classmethod
  def _unique(cls, keys):
    names = [k.name for k in keys]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
      raise ValueError(f"duplicate key name {sorted(dup)[0]!r}")
    if any(k.fuzzy for k in keys[:-1]):
      raise ValueError("the fuzzy key must be the last key of the cascade "
                       "(it only looks at rows no exact key matched)")
    return keys

  @field_validator("phone_region")
  @classmethod
  def _region(cls, v):
    import phonenumbers
    if v.upper() not in phonenumbers.SUPPORTED_REGIONS:
      raise ValueError(f"unknown region {v!r} (use a two-letter code, "
                       f"e.g. US, GB, DE)")
    return v.upper()


class ConflictConfig(_Model):
  default: Strategy = "fill_empty"
  columns: Dict[str, Strategy] = {}
  alternate_suffix: str = Field("_Alt", min_length=1)
  # An enriched value its column's kind rejects (not a phone, email, ZIP or
  # web address) is never written unless this is set; listed either way.
  write_invalid: bool = False


class MultiValueConfig(_Model):
  default: Literal[MULTI_VALUE] = "first"
  columns: Dict[str, Literal[MULTI_VALUE]] = {}
  separator: str = ", "


class ColumnsConfig(_Model):
  placement: Literal[PLACEMENTS] = "append"
  order: List[str] = []


class OutputConfig(_Model):
  path: str
  shards: int = Field(4, ge=1, le=10000)
  reports: Optional[str] = None
  delimiter: Optional[str] = None  # default: the original's
  # Cells a spreadsheet would run as a formula get a leading quote.
  escape_formulas: bool = True
  # _match_key and _match_score columns at the end of every merged row.
  match_columns: bool = False

  _absolute_paths = field_validator("path", "reports")(_absolute)

  @field_validator("delimiter")
  @classmethod
  def _named_delimiter(cls, v):
    return CsvOptions._named_delimiters(v) if v else v

  @property
  def reports_dir(self) -> str:
    if self.reports:
      return self.reports.rstrip("/")
    parent = self.path.rsplit("/", 1)[0] if "/" in self.path else "."
    return f"{parent}/reports"


class StorageConfig(_Model):
  """S3-compatible storage; credentials come from the environment, a
  profile or Beam's --s3_* options, never from this file."""
  endpoint_url: Optional[str] = None
  region: Optional[str] = None
  profile: Optional[str] = None
  verify: Optional[bool] = None


class LimitsConfig(_Model):
  """Rows beyond these sizes are rejected (listed in rejected.csv) instead of
  held in memory: a stray quote can otherwise make one record of the whole
  rest of a file."""
  max_field_bytes: int = Field(4 << 20, ge=1)
  max_row_bytes: int = Field(16 << 20, ge=1)
  # More of an input's rows rejected than this: nothing is published.
  max_rejected_fraction: float = Field(MAX_REJECTED_FRACTION, ge=0, le=1)


class JobConfig(_Model):
  original: OriginalInput
  enriched: List[EnrichedInput] = Field(min_length=1)
  match: MatchConfig
  conflicts: ConflictConfig = ConflictConfig()
  duplicates: Literal[DUPLICATES] = "first"
  duplicate_separator: str = "; "
  multi_value: MultiValueConfig = MultiValueConfig()
  columns: ColumnsConfig = ColumnsConfig()
  output: OutputConfig
  storage: StorageConfig = StorageConfig()
  limits: LimitsConfig = LimitsConfig()
  # How enriched rows meet original rows: `broadcast` (every worker holds
  # every enriched index), `partitioned` (by key hash), or `auto` (broadcast
  # while the enriched files total at most broadcast_limit_mb; by default a
  # fortieth of this machine's memory, as an index takes about twenty times
  # its CSV's size and half the memory is left for the rest).
  join: Literal["auto", "broadcast", "partitioned"] = "auto"
  join_partitions: int = Field(16, ge=1, le=4096)
  broadcast_limit_mb: Optional[int] = Field(None, ge=0)

  @field_validator("enriched")
  @classmethod
  def _unique_names(cls, sources):
    labels = [s.label for s in sources]
    dup = {n for n in labels if labels.count(n) > 1}
    if dup:
      raise ValueError(f"two enriched files are named {sorted(dup)[0]!r}; "
                       f"give each a distinct `name`")
    return sources

  def merge_spec(self, original_header, other_columns=()) -> MergeSpec:
    """`other_columns`: the enriched files' columns after mapping, whose
    names may say their kind too."""
    return MergeSpec(
        original_header=tuple(original_header),
        keys=tuple(k.to_key() for k in self.match.keys),
        phone_region=self.match.phone_region,
        conflict_default=self.conflicts.default,
        conflict_columns=dict(self.conflicts.columns),
        alternate_suffix=self.conflicts.alternate_suffix,
        duplicates=self.duplicates,
        duplicate_separator=self.duplicate_separator,
        multi_value_default=self.multi_value.default,
        multi_value_columns=dict(self.multi_value.columns),
        multi_value_separator=self.multi_value.separator,
        placement=self.columns.placement,
        order=tuple(self.columns.order),
        match_columns=self.output.match_columns,
        column_kinds=column_kinds(list(original_header) +
                                  list(other_columns)),
        write_invalid=self.conflicts.write_invalid)

  def enriched_specs(self) -> List[EnrichedSpec]:
    return [EnrichedSpec(e.label, dict(e.columns),
                         tuple(e.keep) if e.keep is not None else None)
            for e in self.enriched]


def _set_path(doc, dotted: str, value):
  """Applies one `--set a.b.0.c=value` override to the raw YAML document."""
  keys = dotted.split(".")
  node = doc
  for i, k in enumerate(keys):
    last = i == len(keys) - 1
    if isinstance(node, list):
      if not k.isdigit() or int(k) >= len(node):
        raise ConfigError(f"--set {dotted}: {k!r} is not an index of the "
                          f"list at {'.'.join(keys[:i]) or 'top level'}")
      k = int(k)
    elif not isinstance(node, dict):
      raise ConfigError(f"--set {dotted}: {'.'.join(keys[:i])} is not a "
                        f"mapping")
    if last:
      node[k] = value
    else:
      if isinstance(node, dict) and k not in node:
        node[k] = {}
      node = node[k]


def _format_error(source: str, e: ValidationError) -> str:
  parts = []
  for err in e.errors():
    loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
      msg = "unknown key"
    parts.append(f"{loc}: {msg}")
  return f"{source}: " + "; ".join(parts)


def load_config(path: str, overrides: List[str] = (),
                run_id: str = "") -> JobConfig:
  """Reads, overrides and validates a job config; ConfigError on any
  problem, with the file and key path in its one-line message. In string
  values, `$VAR`/`${VAR}` come from the environment, `{run_date}` is
  today's date (YYYY-MM-DD, or $CRMSYNC_RUN_DATE), `{run_id}` this run's
  id."""
  p = Path(path)
  if not p.is_file():
    raise ConfigError(f"{path}: config file not found")
  try:
    doc = yaml.safe_load(p.read_text(encoding="utf-8"))
  except yaml.YAMLError as e:
    mark = getattr(e, "problem_mark", None)
    where = f" line {mark.line + 1}" if mark else ""
    raise ConfigError(f"{path}:{where} invalid YAML "
                      f"({getattr(e, 'problem', e)})") from None
  if not isinstance(doc, dict):
    raise ConfigError(f"{path}: expected a mapping of config keys")
  for item in overrides:
    if "=" not in item:
      raise ConfigError(f"--set {item}: expected key.path=value")
    key, raw = item.split("=", 1)
    _set_path(doc, key.strip(), yaml.safe_load(raw) if raw else "")
  values = {"run_date": os.environ.get("CRMSYNC_RUN_DATE")
            or datetime.date.today().isoformat(), "run_id": run_id or "run"}
  doc = _map_strings(doc, lambda text, where: _expand_templates(
      os.path.expandvars(text), values, path, where))
  try:
    return JobConfig.model_validate(doc)
  except ValidationError as e:
    raise ConfigError(_format_error(path, e)) from None


def _map_strings(node, fn, where=""):
  """`fn(text, key path)` applied to every string value of the document."""
  if isinstance(node, dict):
    return {k: _map_strings(v, fn, f"{where}{k}.") for k, v in node.items()}
  if isinstance(node, list):
    return [_map_strings(v, fn, f"{where}{i}.") for i, v in enumerate(node)]
  if isinstance(node, str):
    return fn(node, where.rstrip("."))
  return node


def _expand_templates(text: str, values, path: str, where: str) -> str:
  """{run_date} and {run_id} (environment variables, $VAR and ${VAR}, are
  expanded first, as a scheduler would expect); any other {name} is an
  error naming the key (a literal brace is written {{ or }})."""
  if "{" not in text:
    return text
  try:
    return text.format(**values)
  except (KeyError, IndexError, ValueError) as e:
    raise ConfigError(f"{path}: {where}: unknown template {e} in {text!r} "
                      f"(known: {{run_date}}, {{run_id}})") from None
