"""The columns crmsync adds to batches for its own bookkeeping.

They travel beside the user's columns in the same Arrow tables, so they
live in a namespace of their own: every internal name starts with RESERVED,
the ASCII unit separator (0x1F), a control character that no CRM or
spreadsheet puts in a column name. A user's header may hold any other name
(`__file`, `__x`, `_id` ...) and it is written back as it was; a header
that holds RESERVED is rejected when it is read (`check_header`).
"""

from typing import Iterable

from crmsync.transforms.errors import InputError

RESERVED = "\x1f"


def internal(name: str) -> str:
  """The internal column called `name`."""
  return RESERVED + name


def is_internal(name: str) -> bool:
  return name.startswith(RESERVED)


# In every RowBatch: where the record is in its file.
OFFSET_COL = internal("offset")  # byte offset of the record: the sort key
LINE_COL = internal("line")  # 1-based physical line where the record starts
ROW_POSITION_COLS = (OFFSET_COL, LINE_COL)
# In an enriched source's tables: the rank of the file the row came from.
FILE_COL = internal("file")
# The partitioned join's answers and fragments.
OWNED_COL = internal("owned")  # the partition that counts the row
# A fragment's keys whose values (blocks) route the row to its partition:
# bit k for the source's k-th key (matching.SourceColumns.keys), for a
# source of at most ROUTED_KEYS keys.
ROUTED_COL = internal("routed")
ROUTED_KEYS = 62
ID_COL = internal("id")  # the enriched row's identity: ties and the reports
USED_COL = internal("used")  # the identities of the rows an answer stands for
RANK_COL = internal("rank")  # a fuzzy candidate's rank (fuzzy.py)
ROWS_COL = internal("rows")  # an answer's rows of the original batch
SCORE_COL = internal("score")  # and their scores
EVIDENCE = internal("e:")  # prefix of the columns a confirming key compares
# With scoring: an answer's vendor identity (matching.vendor_identities),
# and for a member of a row synthesised for duplicates, that row's.
VENDOR_ID_COL = internal("vendor")
GROUP_COL = internal("group")


def check_header(names: Iterable[str], where: str) -> None:
  """Raises InputError (`where`: the file and line) for a column name that
  holds RESERVED."""
  for name in names:
    if RESERVED in name:
      raise InputError(f"{where}: column name {name!r} holds the ASCII unit "
                       f"separator (0x1F), which crmsync reserves for its "
                       f"own columns; rename the column")
