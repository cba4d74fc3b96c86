"""Writes the hostile CSV corpus into tests/data/hostile/ (deterministic).

    python tests/data/make_hostile.py

Every file is an original CRM export with the header `ID,Email,Name` (unless
the case is about the header), so each can be merged with the same enriched
file. `tests/test_hostile.py` runs each through `crmsync run` and checks the
exact outcome; the table of outcomes is in tests/data/README.md.
"""

import os

HEADER = b"ID,Email,Name\n"


def rows(n, start=1, eol=b"\n"):
  return b"".join(b"%d,u%d@x.com,Name %d%s" % (i, i, i, eol)
                  for i in range(start, start + n))


CORPUS = {
    # A quote opened and never closed: the field runs to the end of file.
    "unclosed_quote.csv": HEADER + rows(3) + b'4,"u4@x.com,Name 4\n' + rows(
        2, 5),
    # A quote inside an unquoted field: RFC 4180 says no; we reject the row.
    "quote_in_unquoted_field.csv": HEADER + rows(2) + b'3,u3@x.com,Na"me 3\n'
    + rows(2, 4),
    # Too few and too many fields.
    "ragged_rows.csv": HEADER + rows(2) + b"3,u3@x.com\n" + rows(1, 4)
    + b"5,u5@x.com,Name 5,extra\n" + rows(1, 6),
    "header_only.csv": HEADER,
    "zero_bytes.csv": b"",
    "only_bom.csv": b"\xef\xbb\xbf",
    # LF, CRLF and a lone CR inside a row.
    "mixed_line_ends.csv": HEADER + b"1,u1@x.com,Name 1\r\n2,u2@x.com,Name 2\n"
    + b"3,u3@x.com,Na\rme 3\n" + b"4,u4@x.com,Name 4\r\n",
    # Classic Mac files: CR only, no LF anywhere.
    "cr_only_line_ends.csv": HEADER.replace(b"\n", b"\r") + rows(3, eol=b"\r"),
    "nul_bytes.csv": HEADER + rows(1) + b"2,u2@x.com,Na\x00me 2\n" + rows(1, 3),
    "one_megabyte_field.csv": HEADER + rows(1) + b"2,u2@x.com," + b"N" * (
        1 << 20) + b"\n" + rows(1, 3),
    "five_thousand_columns.csv": b",".join(
        [b"ID", b"Email", b"Name"] + [b"C%d" % i for i in range(4997)])
    + b"\n" + b"".join(b",".join([b"%d" % i, b"u%d@x.com" % i, b"Name %d" % i]
                                 + [b"v"] * 4997) + b"\n" for i in (1, 2)),
    # Latin-1 bytes in a UTF-8 file.
    "undecodable_bytes.csv": HEADER + rows(1) + b"2,u2@x.com,Ren\xe9\n"
    + rows(1, 3),
    "duplicate_headers.csv": b"ID,Email,Email\n1,a@x.com,b@x.com\n",
    # Keys of spaces only are no keys: the rows are kept, matched by nothing.
    "whitespace_only_keys.csv": HEADER + rows(1) + b"2,   ,Name 2\n"
    + b"3,\t,Name 3\n" + rows(1, 4),
    # A 1 MB line, and no newline at the end of the file.
    "long_line_no_final_newline.csv": HEADER + rows(1) + b"2,u2@x.com,"
    + b"L" * ((1 << 20) + 1000),
}


def write_corpus(directory: str):
  os.makedirs(directory, exist_ok=True)
  for name, data in sorted(CORPUS.items()):
    with open(os.path.join(directory, name), "wb") as f:
      f.write(data)


if __name__ == "__main__":
  write_corpus(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "hostile"))
