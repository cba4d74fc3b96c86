"""Finding records in CSV bytes: which quotes toggle quoting and which
newlines end a record, in a chunk of a file read from a known state.

In RFC 4180 CSV every quote toggles the quoted state (a quote inside quotes
is doubled, and toggles twice), so whether a newline ends a record only
depends on the parity of the quotes before it. With an escape character
(`csv.escape: "\\"`) the byte after an odd run of escape characters is
escaped: an escaped quote toggles nothing and an escaped newline ends no
record. Both carry from one chunk to the next as a `QuoteState`, so that a
file scanned chunk by chunk gives what one scan of the whole would.

Every reader of CSV bytes (header, sample, source, parser) finds records
with `QuoteScan` and nothing else.
"""

import functools
from typing import NamedTuple, Optional, Tuple

import numpy as np

from crmsync.transforms.hashing import in_sorted

# What a reader reads and scans at once, in bytes. Looked up at each read
# (`csv_scan.CHUNK_BYTES`), so that a test can make it small.
CHUNK_BYTES = 1 << 22
QUOTE = ord('"')
NEWLINE = ord("\n")
CR = ord("\r")


class QuoteState(NamedTuple):
  """How the bytes before a chunk leave it: `in_quotes`, its first byte is
  inside a quoted field; `escaped`, its first byte is escaped (the bytes
  before end in an odd run of escape characters)."""
  in_quotes: bool = False
  escaped: bool = False


OUTSIDE = QuoteState()  # the state at a record's start


class QuoteScan:
  """The quoting of `chunk` (bytes) read from `state`, with `escape` (a
  one-byte character, or None for RFC 4180 quoting).

  The arrays are ascending byte positions in `chunk` (numpy int64), each
  computed when first asked for: a scan for the state after a chunk only
  counts quotes, unless an escape character makes it look closer.
  """

  def __init__(self, chunk: bytes, escape: Optional[str] = None,
               state: QuoteState = OUTSIDE):
    self.chunk, self.escape, self.state = chunk, escape, state

  @functools.cached_property
  def _bytes(self) -> np.ndarray:
    return np.frombuffer(self.chunk, np.uint8)

  @functools.cached_property
  def _escaped(self) -> Tuple[np.ndarray, bool]:
    """(the positions of the bytes an escape character escapes, whether the
    byte after the chunk is one)."""
    buf, pending = self._bytes, self.state.escaped
    none = np.zeros(0, np.int64)
    if self.escape is None:
      return none, False
    marks = np.flatnonzero(buf == ord(self.escape))
    if marks.size == 0:
      return (np.zeros(1, np.int64) if pending and buf.size else none), (
          pending and buf.size == 0)
    # Runs of consecutive escape characters: an odd run escapes the byte
    # after it.
    cuts = np.flatnonzero(np.diff(marks) != 1)
    firsts = marks[np.concatenate(([0], cuts + 1))]
    lasts = marks[np.concatenate((cuts, [marks.size - 1]))]
    runs = lasts - firsts + 1
    lead = pending and firsts[0] != 0
    if pending and not lead:
      runs[0] -= 1  # the run's first escape character is itself escaped
    after = lasts[(runs & 1).astype(bool)] + 1
    if lead:
      after = np.concatenate(([0], after))
    carry = bool(after.size) and int(after[-1]) == buf.size
    return (after[:-1] if carry else after), carry

  def _unescaped(self, positions: np.ndarray) -> np.ndarray:
    escaped = self._escaped[0]
    if not escaped.size or not positions.size:
      return positions
    return positions[~in_sorted(positions, escaped)]

  @functools.cached_property
  def quotes(self) -> np.ndarray:
    """The quotes that toggle quoting (escaped ones left out)."""
    return self._unescaped(np.flatnonzero(self._bytes == QUOTE))

  @functools.cached_property
  def newlines(self) -> np.ndarray:
    """Every newline byte, escaped or quoted ones too: each starts a
    physical line."""
    return np.flatnonzero(self._bytes == NEWLINE)

  @functools.cached_property
  def ends(self) -> np.ndarray:
    """The newlines that end a record: not escaped, and after an even
    number of toggling quotes from outside quotes (odd from inside)."""
    newlines = self._unescaped(self.newlines)
    quotes, in_quotes = self.quotes, self.state.in_quotes
    if quotes.size == 0:
      return newlines if not in_quotes else newlines[:0]
    odd = (np.searchsorted(quotes, newlines) & 1).astype(bool)
    return newlines[odd == in_quotes]

  @property
  def after(self) -> QuoteState:
    """The state the chunk leaves the next byte in."""
    if self.escape is None and "quotes" not in self.__dict__:
      toggles = self.chunk.count(b'"')  # a plain count: no array needed
    else:
      toggles = self.quotes.size
    return QuoteState(self.state.in_quotes ^ bool(toggles & 1),
                      self._escaped[1])


def strip_eol(raw: bytes) -> bytes:
  """`raw` without its line end (LF, CRLF or CR), if it has one."""
  if raw.endswith(b"\r\n"):
    return raw[:-2]
  if raw.endswith(b"\n") or raw.endswith(b"\r"):
    return raw[:-1]
  return raw
