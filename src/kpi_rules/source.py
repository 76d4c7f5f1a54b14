"""Source text and positions.

A :class:`Span` is a half-open range of character offsets into one :class:`SourceFile`.
Line and column are computed only when a diagnostic is displayed, so that nodes stay
cheap to build and compare (spans never take part in node equality).
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

#: Largest rule or record file we accept; larger input is rejected before parsing.
MAX_SOURCE_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SourceFile:
    """The text of one file, with the offsets at which its lines start."""

    path: str
    text: str
    _line_starts: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        starts = [0]
        starts.extend(i + 1 for i, ch in enumerate(self.text) if ch == "\n")
        object.__setattr__(self, "_line_starts", tuple(starts))

    @classmethod
    def read(cls, path: str | Path) -> SourceFile:
        """Read a UTF-8 file. Raises OSError or UnicodeDecodeError; callers turn those into diagnostics."""
        p = Path(path)
        data = p.read_bytes()
        return cls(str(path), data.decode("utf-8-sig"))

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based line and column of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        line_index = bisect.bisect_right(self._line_starts, offset) - 1
        return line_index + 1, offset - self._line_starts[line_index] + 1

    def offset(self, line: int, column: int) -> int:
        """Character offset of a 1-based line and column (clamped to the text)."""
        line_index = max(0, min(line - 1, len(self._line_starts) - 1))
        return min(self._line_starts[line_index] + max(0, column - 1), len(self.text))

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its newline."""
        start = self._line_starts[line - 1]
        end = self._line_starts[line] - 1 if line < len(self._line_starts) else len(self.text)
        return self.text[start:end].rstrip("\r")

    @property
    def line_count(self) -> int:
        return len(self._line_starts)

    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open range ``[start, end)`` of offsets in ``source``."""

    source: SourceFile
    start: int
    end: int

    @property
    def path(self) -> str:
        return self.source.path

    def line_col(self) -> tuple[int, int]:
        return self.source.line_col(self.start)

    def end_line_col(self) -> tuple[int, int]:
        return self.source.line_col(self.end)

    def __repr__(self) -> str:
        line, col = self.line_col()
        return f"Span({self.source.path}:{line}:{col})"


def span_cover(first: Span | None, last: Span | None) -> Span | None:
    """The smallest span that covers both spans (which must be in the same file)."""
    if first is None:
        return last
    if last is None:
        return first
    return Span(first.source, min(first.start, last.start), max(first.end, last.end))
