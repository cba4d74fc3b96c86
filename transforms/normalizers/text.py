"""Plain text: trim, collapse inner whitespace, Unicode NFKC, case-fold."""

import pyarrow as pa
import pyarrow.compute as pc


def blank_to_null(values: pa.Array) -> pa.Array:
  """Empty strings carry no key: they never match anything."""
  return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


def squeeze(values: pa.Array) -> pa.Array:
  """Trims and collapses runs of whitespace to one space."""
  values = pc.replace_substring_regex(values, r"\s+", " ")
  return pc.utf8_trim_whitespace(values)


def normalize(values: pa.Array, **_) -> pa.Array:
  values = pc.utf8_normalize(values.cast(pa.string()), "NFKC")
  return blank_to_null(squeeze(pc.utf8_lower(values)))
