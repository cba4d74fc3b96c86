"""The job config: a typed model of the YAML contract in DESIGN.md.

Key names are a contract with users (add freely, rename none). Unknown keys
are errors, so a typo never silently falls back to a default. Every error
names the config file and the key path, on one line.
"""

import datetime
import difflib
import os
import re
from pathlib import Path
from typing import Dict, List, Literal, Optional, Union, get_args, get_origin

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError,
                      field_validator, model_validator)
from pydantic_core import PydanticCustomError

from crmsync.transforms import normalizers
from crmsync.transforms.errors import ConfigError
from crmsync.transforms.reports import MAX_REJECTED_FRACTION
from crmsync.transforms.spec import (DUPLICATES, MULTI_VALUE, PLACEMENTS, STRATEGIES,
                             EnrichedSpec, FuzzyRule, MatchKey, MergeSpec)

Strategy = Literal[STRATEGIES]


class _Model(BaseModel):
  model_config = ConfigDict(extra="forbid")


def _at(where, message: str) -> PydanticCustomError:
  """A validator's error about a key below the one it validates (a key's
  `normalize.1`, the keys' `2.name`): the message names that key's path."""
  return PydanticCustomError("crmsync_at", "{message}",
                             {"at": tuple(where), "message": message})


def _show(value) -> str:
  """A value as the user wrote it in YAML, shortened: 'text', 5, true,
  null, [a, b]."""
  if isinstance(value, str):
    text = repr(value)
  elif value is None or isinstance(value, bool):
    text = {None: "null", True: "true", False: "false"}[value]
  elif isinstance(value, (list, dict)):
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 20,
                          allow_unicode=True).strip()
    text = text.removesuffix("\n...").strip()
  else:
    text = repr(value)
  return text if len(text) <= 80 else text[:77] + "..."


def _absolute(path: Optional[str]) -> Optional[str]:
  """Local paths made absolute, against the directory crmsync runs in:
  workers of a Flink or Spark cluster run in directories of their own."""
  if not path or "://" in path:
    return path
  return os.path.abspath(os.path.expanduser(path))


class CsvOptions(_Model):
  """How an input is written; what is left to `auto` (and a BOM, a sep=
  line) is decided per file when the job is planned (csv_dialect)."""
  delimiter: str = ","  # , ; | tab, or auto
  encoding: str = "utf-8"  # any Python codec; a BOM wins
  escape: str = "auto"  # auto | none | "\\" (backslash)
  # auto (by the name's extension: .gz, .bz2, .zst) | none | gzip | bzip2
  # | zstd
  compression: Literal["auto", "none", "gzip", "bzip2", "zstd"] = "auto"

  @field_validator("delimiter")
  @classmethod
  def _named_delimiters(cls, v):
    return {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";",
            "pipe": "|"}.get(v, v)

  @field_validator("delimiter", "encoding", "escape")
  @classmethod
  def _supported(cls, v, info):
    from crmsync.transforms.csv_dialect import check_settings
    v = {"backslash": "\\"}.get(v, v) if info.field_name == "escape" else v
    settings = dict(delimiter=",", encoding="utf-8", escape="auto")
    settings[info.field_name] = v
    try:
      check_settings(**settings, where="")
    except ConfigError as e:
      raise ValueError(str(e).split(": ", 1)[1]) from None
    return v


# What a file is read as: auto (by the name's extension: .xlsx and the
# other workbooks, .parquet; else CSV) | csv | excel | parquet.
InputFormat = Literal["auto", "csv", "excel", "parquet"]


class OriginalInput(_Model):
  path: str
  format: InputFormat = "auto"
  sheet: Optional[str] = None  # a workbook's sheet; default: the first
  csv: CsvOptions = CsvOptions()

  _absolute_path = field_validator("path")(_absolute)


class EnrichedInput(_Model):
  path: str
  _absolute_path = field_validator("path")(_absolute)
  name: Optional[str] = None
  columns: Dict[str, str] = {}
  keep: Optional[List[str]] = None
  format: InputFormat = "auto"
  sheet: Optional[str] = None
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
  from crmsync.pipelines.suggest import field_of
  return _COMPARE_AS.get(field_of(column), "text")


# Kinds of value that a normalizer can tell from noise, by column name.
_VALUE_KINDS = {"email": "email", "phone": "phone", "zip": "zip",
                "url": "url"}


def column_kinds(columns) -> Dict[str, str]:
  """Column -> the normalizer of the kind of value its name says it holds
  ("Mobile Phone": phone, "Postal Code": zip), for the columns that have
  one: they are compared and checked as that kind even in no key."""
  from crmsync.pipelines.suggest import field_of
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
    known = ", ".join(normalizers.NORMALIZERS)
    if self.fuzzy:
      field, names = "compare", self.compare or []
    else:
      for option in ("compare", "block", "threshold", "max_block"):
        if option in self.model_fields_set:
          raise _at([option], f"{_show(getattr(self, option))} is for a "
                    f"fuzzy key only (normalize: fuzzy; this key's is "
                    f"{_show(self.normalize)})")
      field, names = "normalize", self.normalize
      if isinstance(names, str):
        if names not in normalizers.NORMALIZERS:
          raise _at([field], f"{names!r} is not one of {known}, {FUZZY}")
        names = [names] * len(self.columns)
    for i, n in enumerate(names if isinstance(self.normalize, list)
                          or self.fuzzy else ()):
      if n not in normalizers.NORMALIZERS:
        raise _at([field, i], f"{n!r} is not one of {known}")
    if (field == "normalize" or self.compare is not None) and len(
        names) != len(self.columns):
      n = len(self.columns)
      raise _at([field], f"{_show(getattr(self, field))} lists "
                f"{len(names)} normalizer{'s' if len(names) != 1 else ''} "
                f"for {n} column"
                f"{'s' if n != 1 else ''}, {_show(self.columns)}")
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
  # auto: on when a key has `confirm` or the cascade ends in a fuzzy key.
  scoring: Union[Literal["auto"], bool] = "auto"
  threshold: float = Field(0.5, gt=0, lt=1)
  assignment: Literal["best", "one_to_one", "all"] = "best"
  review_threshold: float = Field(0.2, ge=0, lt=1)
  decisions: Optional[str] = None  # review.csv with `decision` filled in
  _absolute_decisions = field_validator("decisions")(_absolute)

  @model_validator(mode="after")
  def _review_below_match(self):
    if self.review_threshold > self.threshold:
      raise _at(["review_threshold"], f"{self.review_threshold} is above "
                f"match.threshold ({self.threshold}): review is for pairs "
                f"just below it")
    return self

  @property
  def scores(self) -> bool:
    if self.scoring != "auto":
      return bool(self.scoring)
    return any(k.confirm or k.fuzzy for k in self.keys)

  @field_validator("keys")
  @classmethod
  def _unique(cls, keys):
    names = [k.name for k in keys]
    for j, name in enumerate(names):
      if name in names[:j]:
        raise _at([j, "name"], f"{name!r} is also the name of match.keys."
                  f"{names.index(name)} (each key needs its own)")
    for j, k in enumerate(keys[:-1]):
      if k.fuzzy:
        raise _at([j, "normalize"], f"{FUZZY!r} is for the last key of the "
                  f"cascade only (it only looks at rows no exact key "
                  f"matched)")
    return keys

  @field_validator("phone_region")
  @classmethod
  def _region(cls, v):
    import phonenumbers
    if v.upper() not in phonenumbers.SUPPORTED_REGIONS:
      raise ValueError(f"{v!r} is not a region (use a two-letter code, "
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


class ChangesConfig(_Model):
  """output.changes: the columns that identify a record in the CRM (its
  record ID), first in each row of the changes and undo files."""
  id_columns: List[str] = Field(min_length=1)


class OutputConfig(_Model):
  path: str
  shards: int = Field(4, ge=1, le=10000)
  reports: Optional[str] = None
  delimiter: Optional[str] = None  # default: the original's
  # Cells a spreadsheet would run as a formula get a leading quote.
  escape_formulas: bool = True
  # _match_key and _match_score columns at the end of every merged row.
  match_columns: bool = False
  # The most rows (header excluded) and bytes (header included) a file of
  # the output, changes or undo may hold (0: no limit): HubSpot's importer
  # takes 1,048,576 rows and 512 MB per file.
  max_rows_per_file: int = Field(0, ge=0)
  max_bytes_per_file: int = Field(0, ge=0)
  # reports/original_duplicates.csv: original rows sharing an email or a
  # phone (it holds every original row's keys until the end: opt in).
  original_duplicates: bool = False
  # The changes and undo files for the CRM's update import.
  changes: Optional[ChangesConfig] = None
  crm: Literal["generic", "hubspot", "salesforce"] = "generic"
  # The merged shards' format; the changes and undo files, for a CRM's
  # importer, and the reports stay CSV.
  format: Literal["csv", "parquet"] = "csv"

  _absolute_paths = field_validator("path", "reports")(_absolute)

  @model_validator(mode="after")
  def _byte_caps_on_csv(self):
    if (self.format == "parquet" and self.max_bytes_per_file
        and not self.changes):
      raise _at(["max_bytes_per_file"], f"{self.max_bytes_per_file} caps "
                f"CSV files; a Parquet file's size is known only once it is "
                f"written: use output.max_rows_per_file with "
                f"output.format: parquet")
    return self

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
    for j, s in enumerate(sources):
      if s.label == "original":  # the reports' name of the original
        raise _at([j, "name" if s.name else "path"],
                  ("" if s.name else "the file name ") + "'original' names "
                  "the original in the reports; give this source a `name`")
      if s.label in labels[:j]:
        raise _at([j, "name" if s.name else "path"],
                  ("" if s.name else "the file name ") + f"{s.label!r} "
                  f"is also the name of enriched.{labels.index(s.label)}; "
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
        write_invalid=self.conflicts.write_invalid,
        scoring=self.match.scores,
        threshold=self.match.threshold,
        assignment=self.match.assignment,
        review_threshold=self.match.review_threshold,
        changes_ids=tuple(self.output.changes.id_columns
                          if self.output.changes else ()),
        crm=self.output.crm,
        report_duplicates=self.output.original_duplicates)

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


# What a value of the wrong type should have been, by pydantic error type.
_WANTED = {"string_type": "a string", "int_type": "a whole number",
           "int_parsing": "a whole number", "int_from_float": "a whole number",
           "float_type": "a number", "float_parsing": "a number",
           "bool_type": "true or false", "bool_parsing": "true or false",
           "list_type": "a list", "dict_type": "a mapping",
           "model_type": "a mapping", "model_attributes_type": "a mapping"}


def _located(loc, doc, missing: bool):
  """pydantic's error location as the key path the user wrote: the union
  members it tried (`normalize.list[str].1`) are not keys of the document.
  Returns the path, where a union was tried (None if none), and whether the
  error is about a mapping's key rather than its value."""
  path, union, node, is_key = [], None, doc, False
  for i, part in enumerate(loc):
    if part == "[key]":  # the key before it is at fault, not its value
      is_key, path = True, path[:-1]
      continue
    if isinstance(node, dict) and part in node:
      node = node[part]
    elif isinstance(node, list) and isinstance(part, int) and (
        0 <= part < len(node)):
      node = node[part]
    elif not (missing and i == len(loc) - 1):
      union = tuple(path) if union is None else union
      continue
    path.append(part)
  return tuple(path), union, is_key


def _number(x) -> str:
  return str(int(x)) if float(x).is_integer() else str(x)


def _model_at(path):
  """The config model (class) at a key path, or None."""
  t = JobConfig
  for part in path:
    t = _inner(t, part)
  return t if isinstance(t, type) and issubclass(t, BaseModel) else None


def _inner(t, part):
  if isinstance(t, type) and issubclass(t, BaseModel):
    field = t.model_fields.get(part) if isinstance(part, str) else None
    return field.annotation if field else None
  origin, args = get_origin(t), get_args(t)
  if origin is list and isinstance(part, int):
    return args[0]
  if origin is dict:
    return args[1]
  if origin is Union:
    for arg in args:
      inner = _inner(arg, part)
      if inner is not None:
        return inner
  return None


def _problem(err, path, is_key) -> str:
  """What is wrong at `path`, naming the value written there."""
  kind, ctx, value = err["type"], err.get("ctx") or {}, _show(err["input"])
  if kind == "missing":
    return "missing (required)"
  if kind == "extra_forbidden":
    model = _model_at(path[:-1])
    known = list(model.model_fields) if model else []
    close = difflib.get_close_matches(str(path[-1]), known, n=1)
    return "unknown key" + (
        f" (did you mean {'.'.join(map(str, path[:-1] + tuple(close)))}?)"
        if close else f" (known: {', '.join(known)})" if known else "")
  if kind in _WANTED:
    return (f"the key {value}" if is_key else value) + \
        f" is not {_WANTED[kind]}"
  if kind == "literal_error":
    choices = re.findall(r"'((?:[^'\\]|\\.)*)'", ctx.get("expected", ""))
    return f"{value} is not one of " + (", ".join(choices) or
                                        ctx.get("expected", "?"))
  bounds = {"greater_than_equal": ("ge", "too small (at least {})"),
            "greater_than": ("gt", "too small (more than {})"),
            "less_than_equal": ("le", "too big (at most {})"),
            "less_than": ("lt", "too big (less than {})")}
  if kind in bounds:
    name, text = bounds[kind]
    return f"{value} is " + text.format(_number(ctx[name]))
  if kind in ("too_short", "string_too_short", "too_long", "string_too_long"):
    n = ctx.get("min_length", ctx.get("max_length"))
    unit = "character" if kind.startswith("string") else "item"
    bound = "at least" if "short" in kind else "at most"
    return (f"{value} is too {'short' if 'short' in kind else 'long'} "
            f"({bound} {n} {unit}{'s' if n != 1 else ''})")
  msg = err["msg"].removeprefix("Value error, ").removeprefix(
      "Assertion failed, ")
  if kind == "value_error" and not isinstance(err["input"], (dict, list)) \
      and value not in msg:
    msg = f"{value}: {msg}"
  return msg


def _format_error(source: str, e: ValidationError, doc=None) -> str:
  """One line: the file, then each problem as `key.path: what is wrong`,
  naming the value written there. Of the members of a union pydantic
  tried (a string, or a list of strings), only those that got furthest
  into the value are reported."""
  found = []
  for err in e.errors():
    loc = tuple(err["loc"])
    if err["type"] == "crmsync_at":
      loc += err["ctx"]["at"]
    path, union, is_key = _located(loc, doc, err["type"] == "missing")
    found.append((path, union, is_key, err))
  deepest = {}
  for path, union, _, _ in found:
    if union is not None:
      deepest[union] = max(deepest.get(union, 0), len(path))
  parts = []
  for path, union, is_key, err in found:
    if union is not None and len(path) < deepest[union]:
      continue
    where = ".".join(str(x) for x in path) or "(top level)"
    if err["type"] == "crmsync_at":
      problem = err["ctx"]["message"]
    else:
      problem = _problem(err, path, is_key)
    same = [i for i, (w, p) in enumerate(parts) if w == where]
    if union is not None and same and err["type"] in _WANTED:
      # Several members tried at one place: "5 is not a string or a list".
      parts[same[0]] = (where, f"{parts[same[0]][1]} or "
                        f"{_WANTED[err['type']]}")
    elif (where, problem) not in parts:
      parts.append((where, problem))
  return f"{source}: " + "; ".join(f"{w}: {p}" for w, p in parts)


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
  except UnicodeDecodeError as e:
    line = p.read_bytes()[:e.start].count(b"\n") + 1
    raise ConfigError(f"{path}: line {line}: not UTF-8 (byte "
                      f"0x{e.object[e.start]:02x}); save the config as "
                      f"UTF-8") from None
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
    try:
      value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError as e:
      raise ConfigError(f"--set {key.strip()}: {raw!r} is not a YAML value "
                        f"({getattr(e, 'problem', e)}); quote it: "
                        f"--set '{key.strip()}=\"{raw}\"'") from None
    _set_path(doc, key.strip(), value)
  values = {"run_date": os.environ.get("CRMSYNC_RUN_DATE")
            or datetime.date.today().isoformat(), "run_id": run_id or "run"}
  doc = _map_strings(doc, lambda text, where: _expand_templates(
      os.path.expandvars(text), values, path, where))
  try:
    return JobConfig.model_validate(doc)
  except ValidationError as e:
    raise ConfigError(_format_error(path, e, doc)) from None


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
  except AttributeError:  # {run_date.year}: the values are plain strings
    raise ConfigError(f"{path}: {where}: templates take no attributes, in "
                      f"{text!r} (known: {{run_date}}, {{run_id}})") from None
