"""``docs/errors.md`` and the code registry (``kpi_rules.codes``) stay in step."""

from __future__ import annotations

import re
from pathlib import Path

from kpi_rules.codes import CODES

DOC = Path(__file__).resolve().parent.parent / "docs" / "errors.md"
HEADING = re.compile(r"^## (KR\d{3}) — (.+)$")


def _sections() -> dict[str, tuple[str, str]]:
    """code -> (title, section text) for every ``## KRnnn — title`` heading."""
    out: dict[str, tuple[str, str]] = {}
    current: str | None = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            match = HEADING.match(line)
            assert match, f"a second-level heading that is not `## KRnnn — title`: {line!r}"
            code, title = match.groups()
            assert code not in out, f"{code} has two headings"
            out[code] = (title, "")
            current = code
        elif line.startswith("# "):
            current = None
        elif current is not None:
            title, text = out[current]
            out[current] = (title, text + line + "\n")
    return out


def test_every_code_has_a_heading_and_every_heading_a_code() -> None:
    sections = _sections()
    assert sorted(set(CODES) - set(sections)) == [], "codes without a heading in docs/errors.md"
    assert sorted(set(sections) - set(CODES)) == [], "headings in docs/errors.md without a registered code"


def test_titles_match_the_registry() -> None:
    for code, (title, _) in _sections().items():
        assert title == CODES[code].title, f"{code}: doc says {title!r}, registry says {CODES[code].title!r}"


def test_headings_follow_the_registry_order() -> None:
    assert list(_sections()) == [c for c in CODES if c in _sections()]


def test_every_section_says_what_why_example_and_fix() -> None:
    for code, (_, text) in _sections().items():
        for part in ("**What.**", "**Why.**", "**Example.**", "**Fix.**", "```"):
            assert part in text, f"{code} lacks {part}"


def test_rendered_messages_carry_their_own_code() -> None:
    for code, (_, text) in _sections().items():
        if "**Message.**" in text:
            assert f"error[{code}]" in text.split("**Message.**", 1)[1], code
