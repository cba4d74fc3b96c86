"""URLs and domains.

`url`: scheme, "www.", query, fragment and trailing slash dropped, lowercase:
"https://www.LinkedIn.com/in/jdoe/?trk=x" -> "linkedin.com/in/jdoe".
`domain`: the host only; an email address gives its domain.
A value whose host has no dot or that holds spaces ("n/a", "see notes") is
not a web address: no key.
"""

import pyarrow as pa
import pyarrow.compute as pc

from crmsync.transforms.normalizers.text import blank_to_null

# A host of dotted labels, an optional port, an optional path: no spaces.
WEB_ADDRESS = r"^[^\s/.:@]+(?:\.[^\s/.:@]+)+(?::\d+)?(?:/\S*)?$"


def normalize(values: pa.Array) -> pa.Array:
  """The `url` key of each value ("linkedin.com/in/jdoe"): a string array
  of the same length, null where the value is not a web address."""
  v = pc.utf8_lower(pc.utf8_trim_whitespace(values.cast(pa.string())))
  v = pc.replace_substring_regex(v, r"^[a-z][a-z0-9+.-]*://", "")
  v = pc.replace_substring_regex(v, r"^www\d?\.", "")
  v = pc.replace_substring_regex(v, r"[?#].*$", "")
  v = pc.utf8_rtrim(v, "/")
  return pc.if_else(pc.match_substring_regex(v, WEB_ADDRESS), v,
                    pa.scalar(None, pa.string()))


def normalize_domain(values: pa.Array) -> pa.Array:
  """The host of each URL or email address ("acme.com"): a string array of
  the same length, null where there is none."""
  v = pc.utf8_lower(pc.utf8_trim_whitespace(values.cast(pa.string())))
  v = pc.replace_substring_regex(v, r"^[^@/]*@", "")
  v = normalize(pc.replace_substring_regex(v, r"\.(/|$)", r"\1"))
  v = pc.replace_substring_regex(v, r"[/:].*$", "")
  return blank_to_null(pc.utf8_rtrim(v, "."))
