"""Postal codes: US ZIP and ZIP+4 to ZIP5, other postcodes uppercased
without spaces.

Spreadsheets and dataframes read ZIPs as numbers: the leading zero goes
("2134" for 02134, "501" for 00501, "21341234" for ZIP+4 02134-1234) and,
when the column has blanks, pandas makes them floats ("2134.0"). They are
restored: a US ZIP has 5 digits (USPS Publication 28), so 3 or 4 digits are
padded, and a ".0" is dropped. Padding and reading 8 digits as a ZIP+4
without its zero apply in the US only (phone_region US or a US territory:
Austria's postcodes have 4 digits, Brazil's CEPs 8). A
value that cannot be restored (other decimals, scientific notation, stray
characters) is not a postal code, so a mangled value never becomes another
valid code: "2134.0" is never 21340.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crmsync.transforms.normalizers.text import blank_to_null, has_any, only

# Letters and digits, 3 to 10 of them, once spaces and hyphens are gone
# (UPU postcode formats: "SW1A 1AA", "K1A 0B6", "75008", "1010").
POSTCODE = r"^[0-9A-Z]{3,10}$"
US_REGIONS = ("US", "PR", "VI", "GU", "AS", "MP")


def normalize(values: pa.Array, *, phone_region: str = "US") -> pa.Array:
  """The postcode key of each value: a string array of the same length,
  null where the value is blank or not a postal code. `phone_region`, a
  two-letter ISO 3166-1 code (the job's `match.phone_region`), says whether
  the US restoring applies (US_REGIONS)."""
  v = pc.utf8_trim_whitespace(values.cast(pa.string()))
  # Each rewrite runs only when some value can need it: most columns are
  # ZIP5 already.
  if has_any(v, b"abcdefghijklmnopqrstuvwxyz"):
    v = pc.utf8_upper(v)
  if has_any(v, b"."):
    v = pc.replace_substring_regex(v, r"^(\d{3,5})\.0+$", r"\1")
  separated = has_any(v, b" -\t")
  if separated:
    v = pc.replace_substring_regex(v, r"^(\d{5})[\s-]?\d{4}$", r"\1")
    v = pc.replace_substring_regex(v, r"^(\d{4})-\d{4}$", r"0\1")
    v = pc.replace_substring_regex(v, r"[\s-]", "")
  lengths = pc.utf8_length(v).to_numpy(zero_copy_only=False)
  digits = only(v, b"0123456789")
  if (lengths == 9).any():
    v = pc.replace_substring_regex(v, r"^(\d{5})\d{4}$", r"\1")
  if phone_region in US_REGIONS and (lengths == 8).any():
    v = pc.replace_substring_regex(v, r"^([1-9]\d{3})\d{4}$", r"0\1")
  if phone_region in US_REGIONS and (lengths == 4).any():
    v = pc.replace_substring_regex(v, r"^(\d{4})$", r"0\1")
  if phone_region in US_REGIONS and (lengths == 3).any():
    v = pc.replace_substring_regex(v, r"^(\d{3})$", r"00\1")
  v = blank_to_null(v)
  if digits and np.isin(lengths, (0, 3, 4, 5, 8, 9)).all():
    return v  # all restored to ZIP5 above (or blank)
  return pc.if_else(pc.match_substring_regex(v, POSTCODE), v,
                    pa.scalar(None, pa.string()))
