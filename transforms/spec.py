"""What a merge does, as plain picklable values shipped to the workers.

The YAML config (pipelines/config.py) is turned into these; a user composing
the transforms in their own pipeline builds them directly.
"""

from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

STRATEGIES = ("keep_original", "replace", "fill_empty", "create_alternate",
              "manual_review")
DUPLICATES = ("first", "last", "most_complete", "join", "spread")
MULTI_VALUE = ("first", "all", "deduplicated", "best")
PLACEMENTS = ("append", "next_to_related", "explicit")
# Keys whose cells may hold a list of values, each one a match candidate.
SPLITTABLE_NORMALIZERS = ("email", "email_provider", "phone")


@dataclass(frozen=True)
class FuzzyRule:
  """How the fuzzy key finds and scores candidates (transforms/fuzzy.py)."""
  threshold: float = 0.88  # the score a candidate needs to match
  # Blocks: a candidate shares every column's code with the row in at least
  # one block. Empty: every pair of the compared columns.
  blocks: Tuple[Tuple[str, ...], ...] = ()
  max_block: int = 20  # rows sharing one block value; more: too common


@dataclass(frozen=True)
class MatchKey:
  name: str
  columns: Tuple[str, ...]
  normalizers: Tuple[str, ...]  # one per column
  # A fuzzy key scores candidates instead of looking up equal values.
  fuzzy: Optional[FuzzyRule] = None
  # A hit whose confirming columns clearly differ is rejected (e.g. a shared
  # inbox); one normalizer per column says how they are compared.
  confirm: Tuple[str, ...] = ()
  confirm_normalizers: Tuple[str, ...] = ()

  @property
  def block_columns(self) -> Tuple[str, ...]:
    if not self.fuzzy:
      return ()
    return tuple(dict.fromkeys(c for b in self.fuzzy.blocks for c in b))

  @property
  def needed_columns(self) -> Tuple[str, ...]:
    """Every column the key reads, on both sides."""
    return tuple(dict.fromkeys(self.columns + self.block_columns +
                               self.confirm))

  # Enriched columns that are split into several values (email and phone).
  @property
  def multi_valued(self) -> bool:
    return (len(self.columns) == 1 and not self.fuzzy and
            self.normalizers[0] in SPLITTABLE_NORMALIZERS)


@dataclass(frozen=True)
class EnrichedSpec:
  name: str
  rename: Dict[str, str] = field(default_factory=dict)  # enriched -> output
  keep: Optional[Tuple[str, ...]] = None  # output names; None: see keep_columns

  def keep_columns(self, mapped_header, original_header):
    """Kept columns: `keep`, else every column not in the original plus the
    ones the user mapped onto an original column (a mapping states intent)."""
    if self.keep is not None:
      return tuple(self.keep)
    mapped_targets = set(self.rename.values())
    return tuple(c for c in mapped_header
                 if c not in original_header or c in mapped_targets)


@dataclass(frozen=True)
class MergeSpec:
  original_header: Tuple[str, ...]
  keys: Tuple[MatchKey, ...]
  phone_region: str = "US"
  conflict_default: str = "fill_empty"
  conflict_columns: Dict[str, str] = field(default_factory=dict)
  alternate_suffix: str = "_Alt"
  duplicates: str = "first"
  duplicate_separator: str = "; "
  multi_value_default: str = "first"
  multi_value_columns: Dict[str, str] = field(default_factory=dict)
  multi_value_separator: str = ", "
  placement: str = "append"
  order: Tuple[str, ...] = ()
  # Append _match_key (source:key per matching source) and _match_score.
  match_columns: bool = False
  # Output column -> the normalizer of the kind of value it holds (email,
  # phone, zip, url), for columns in no exact key; pipelines/config.py
  # fills it from the column names.
  column_kinds: Dict[str, str] = field(default_factory=dict)
  # Write enriched values that their column's kind rejects (Excel's
  # 5.55201E+09 in a phone column) anyway; they are reported either way.
  write_invalid: bool = False
  # Score every candidate pair with a Fellegi-Sunter model learned from the
  # job's own pairs (transforms/scoring.py, transforms/assignment.py)
  # instead of taking the first key that hits; pairs at or above
  # `threshold` (a match probability) are assigned by `assignment`.
  scoring: bool = False
  threshold: float = 0.5
  assignment: str = "best"
  # Pairs from here up to `threshold` go to review.csv (clerical review).
  review_threshold: float = 0.2
  # Decided pairs (match.decisions): (original file rank, line, source,
  # enriched file rank, line, is a match), overriding the model.
  decisions: Tuple[Tuple[int, int, str, int, int, bool], ...] = ()
  # output.changes: the id columns of the changes and undo files (none:
  # no such files), the CRM whose import conventions they follow
  # (transforms/changes.py), and the original columns no source supplies.
  changes_ids: Tuple[str, ...] = ()
  # output.original_duplicates: list the original rows sharing an
  # identifying key (transforms/original_duplicates.py).
  report_duplicates: bool = False
  crm: str = "generic"
  unsupplied: Tuple[str, ...] = ()

  def strategy(self, column: str) -> str:
    return self.conflict_columns.get(column, self.conflict_default)

  def key_normalizer(self, column: str) -> str:
    """The normalizer that decides whether two values of a column agree and
    whether a value is valid: that of the first exact key using the column,
    else the column's kind, else plain text."""
    for key in self.keys:
      if column in key.columns and not key.fuzzy:
        return key.normalizers[key.columns.index(column)]
    return self.column_kinds.get(column, "text")
