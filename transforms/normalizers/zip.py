"""Postal codes: US ZIP and ZIP+4 to ZIP5 (restoring a leading zero that a
spreadsheet dropped), other postcodes uppercased without spaces."""

import pyarrow as pa
import pyarrow.compute as pc

from transforms.normalizers.text import blank_to_null


def normalize(values: pa.Array, **_) -> pa.Array:
  v = pc.utf8_upper(pc.utf8_trim_whitespace(values.cast(pa.string())))
  v = pc.replace_substring_regex(v, r"^(\d{5})(?:[\s-]?\d{4})$", r"\1")
  v = pc.replace_substring_regex(v, r"^(\d{4})(?:-\d{4})?$", r"0\1")
  v = pc.replace_substring_regex(v, r"[^0-9A-Z]", "")
  return blank_to_null(v)
