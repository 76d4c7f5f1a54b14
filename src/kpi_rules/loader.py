"""Rule files in: path or text → parsed, checked and compiled :class:`~kpi_rules.plan.Plan`.

The form is chosen by the file's extension (``.kpi`` text, ``.yaml``/``.yml`` YAML). The content
hash in the provenance stamp is the SHA-256 of the rule file's text, so a result can always be
traced to the exact rules that produced it.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

from kpi_rules import nodes
from kpi_rules.catalogue import Catalogue, bind_catalogue, load_catalogue
from kpi_rules.compiler import compile_ruleset
from kpi_rules.diagnostics import Diagnostic, DiagnosticError, Label
from kpi_rules.merge import merge_rulesets
from kpi_rules.parser import parse_ruleset
from kpi_rules.plan import Plan
from kpi_rules.source import MAX_SOURCE_BYTES, SourceFile, Span
from kpi_rules.validator import check_ruleset
from kpi_rules.yaml_form import load_yaml_ruleset

TEXT_SUFFIXES = (".kpi",)
YAML_SUFFIXES = (".yaml", ".yml")


def read_source(path: str | Path) -> SourceFile:
    """Read a rule file, turning I/O and encoding problems into diagnostics."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_SOURCE_BYTES:
            raise DiagnosticError([Diagnostic(
                "KR105", f"the file has {size} bytes; rule files are limited to {MAX_SOURCE_BYTES}",
                where=str(path), hint="split the rule set or move large tables into a catalogue file",
            )])
        return SourceFile.read(p)
    except OSError as error:
        raise DiagnosticError([Diagnostic("KR601", f"cannot read the file: {error.strerror}", where=str(path))]) from None
    except UnicodeDecodeError:
        raise DiagnosticError([Diagnostic("KR601", "the file is not UTF-8 text", where=str(path),
                                          hint="save the file as UTF-8")]) from None


def parse_source(source: SourceFile) -> nodes.Ruleset:
    """Parse a source in the form its extension names."""
    suffix = Path(source.path).suffix.lower()
    if suffix in YAML_SUFFIXES:
        return load_yaml_ruleset(source)
    if suffix in TEXT_SUFFIXES or suffix == "":
        return parse_ruleset(source)
    raise DiagnosticError([Diagnostic(
        "KR602", f"unknown rule file type `{suffix}`", where=source.path,
        hint="rule files end in .kpi (text form) or .yaml/.yml (YAML form)",
    )])


def compile_source(
    source: SourceFile,
    catalogue: str | Path | Catalogue | None = None,
    search_path: Sequence[str | Path] = (),
) -> Plan:
    """Parse, check and compile one rule file. Raises DiagnosticError with every problem found.

    A rule file that ``extends`` another is merged with its parent chain first (see
    :func:`resolve_ruleset`); a ``catalogue`` (a catalogue file or a loaded :class:`Catalogue`)
    supplies the rows of the rule set's ``catalogue`` table. The content hash covers every file.
    """
    ruleset, sources = resolve_ruleset(source, search_path)
    if catalogue is not None:
        bound = catalogue if isinstance(catalogue, Catalogue) else load_catalogue(catalogue)
        ruleset = bind_catalogue(ruleset, bound)
        sources = (*sources, bound.source)
    checked = check_ruleset(ruleset)
    plan = compile_ruleset(checked, content_hash=content_hash(list(sources)))
    stamped = dataclasses.replace(
        plan.provenance, sources=tuple(f"{s.path} sha256:{s.sha256()}" for s in sources)
    )
    return dataclasses.replace(plan, provenance=stamped)


def load_plan(
    path: str | Path,
    catalogue: str | Path | Catalogue | None = None,
    search_path: Sequence[str | Path] = (),
) -> Plan:
    return compile_source(read_source(path), catalogue, search_path)


def content_hash(sources: list[SourceFile]) -> str:
    """SHA-256 over the rule files' texts, in path order, each prefixed by its length."""
    digest = hashlib.sha256()
    for source in sorted(sources, key=lambda s: s.path):
        data = source.text.encode("utf-8")
        digest.update(f"{len(data)}:".encode())
        digest.update(data)
    return "sha256:" + digest.hexdigest()


# --------------------------------------------------------------------------- extends

#: Longest ``extends`` chain followed (a longer one is almost certainly a mistake).
MAX_EXTENDS_DEPTH = 16
_KPI_ID = re.compile(r"^[ \t]*ruleset[ \t]+([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)", re.MULTILINE)
_YAML_ID = re.compile(r"^ruleset:[ \t]*['\"]?([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)", re.MULTILINE)
_EXTENDS = re.compile(r"\bextends\b[ \t]*:?[ \t]*['\"]?([a-z_][a-z0-9_.]*)")


def resolve_ruleset(
    source: SourceFile, search_path: Sequence[str | Path] = ()
) -> tuple[nodes.Ruleset, tuple[SourceFile, ...]]:
    """Parse a rule file and, when it ``extends`` another, merge it onto its parent chain.

    The parent is found by its rule set id: among the rule files beside the child, then in each
    directory of ``search_path``, then under the nearest enclosing ``criteria/`` directory of the
    child, then under ``./criteria`` (the last three searched recursively; a ``.kpi`` file is
    preferred to its YAML twin). Returns the merged rule set and every file of the chain, child
    first. Raises DiagnosticError: KR350 parent not found, KR351 a cycle, KR355 two candidates,
    KR354 ``remove`` without ``extends``, and the problems of :func:`kpi_rules.merge.merge_rulesets`.
    """
    chain: list[tuple[SourceFile, nodes.Ruleset]] = []
    current = source
    while True:
        ruleset = parse_source(current)
        seen = [(Path(s.path).resolve(), r.id) for s, r in chain]
        if (Path(current.path).resolve(), ruleset.id) in seen or ruleset.id in {rid for _, rid in seen}:
            names = " → ".join([*(r.id for _, r in chain), ruleset.id])
            first = chain[0][0]
            raise DiagnosticError([Diagnostic(
                "KR351", f"the extends chain comes back to `{ruleset.id}`: {names}",
                _extends_span(first), hint="a rule set cannot extend itself, directly or through others",
                labels=tuple(Label(span, f"`{r.id}` extends `{r.extends}`")
                             for s, r in chain[1:] if (span := _extends_span(s)) is not None),
            )])
        chain.append((current, ruleset))
        if ruleset.extends is None:
            break
        if len(chain) > MAX_EXTENDS_DEPTH:
            raise DiagnosticError([Diagnostic(
                "KR351", f"the extends chain is longer than {MAX_EXTENDS_DEPTH} rule sets",
                _extends_span(current), hint="is there a cycle through copies of the same rule set?",
            )])
        current = read_source(find_parent(ruleset.extends, current, search_path))
    if chain[-1][1].removals:
        last_source, last = chain[-1]
        raise DiagnosticError([Diagnostic(
            "KR354", f"`{last.id}` removes declarations but extends no rule set", last.removals[0].span,
            hint="`remove` takes away a parent's declaration; add `extends PARENT` or delete the line",
        )])
    merged = chain[-1][1]
    for _, child in reversed(chain[:-1]):
        merged = merge_rulesets(merged, child)
    return merged, tuple(s for s, _ in chain)


def find_parent(ruleset_id: str, child: SourceFile, search_path: Sequence[str | Path] = ()) -> Path:
    """The file of the rule set ``ruleset_id`` that ``child`` extends (see :func:`resolve_ruleset`)."""
    child_path = Path(child.path)
    here = child_path.parent if child.path and not child.path.startswith("<") else Path.cwd()
    places: list[tuple[Path, bool]] = [(here, False)]
    places += [(Path(p), True) for p in search_path]
    root = next((p for p in (here.resolve(), *here.resolve().parents) if p.name == "criteria"), None)
    if root is not None:
        places.append((root, True))
    places.append((Path.cwd() / "criteria", True))
    unique: dict[Path, tuple[Path, bool]] = {}
    for place, recursive in places:
        key = place.resolve()
        if key not in unique or (recursive and not unique[key][1]):
            unique[key] = (place, recursive)
    places = list(unique.values())
    known: dict[str, Path] = {}
    for place, recursive in places:
        found = [p for p, rid in _rule_files(place, recursive, known) if rid == ruleset_id]
        found = [p for p in found if p.resolve() != child_path.resolve()] or found
        if not found:
            continue
        distinct = {(p.parent.resolve(), p.stem) for p in found}
        if len(distinct) > 1:
            shown = sorted({str(p) for p in found})
            raise DiagnosticError([Diagnostic(
                "KR355", f"`{ruleset_id}` is declared by more than one rule file under {place}: " + ", ".join(shown),
                _extends_span(child), hint="keep one rule file per rule set id, or pass the intended directory as a search path",
            )])
        return sorted(found, key=lambda p: (p.suffix.lower() != ".kpi", str(p)))[0]
    close = difflib.get_close_matches(ruleset_id, list(known), n=1, cutoff=0.6)
    searched = ", ".join(str(p) for p, _ in places)
    raise DiagnosticError([Diagnostic(
        "KR350", f"no rule file declares `ruleset {ruleset_id}` (searched {searched})",
        _extends_span(child), where=None if _extends_span(child) else child.path,
        hint=(f"did you mean `{close[0]}` ({known[close[0]]})?" if close
              else "put the parent beside this file or under a `criteria/` directory"),
    )])


def _rule_files(place: Path, recursive: bool, known: dict[str, Path]) -> list[tuple[Path, str]]:
    """The rule files of a directory with the rule set id each declares (read from the header)."""
    if not place.is_dir():
        return []
    out: list[tuple[Path, str]] = []
    for suffix in (*TEXT_SUFFIXES, *YAML_SUFFIXES):
        paths = place.rglob(f"*{suffix}") if recursive else place.glob(f"*{suffix}")
        for path in sorted(paths):
            try:
                if not path.is_file() or path.stat().st_size > MAX_SOURCE_BYTES:
                    continue
                head = path.read_text(encoding="utf-8-sig", errors="replace")[:20_000]
            except OSError:
                continue
            match = (_KPI_ID if suffix in TEXT_SUFFIXES else _YAML_ID).search(head)
            if match:
                out.append((path, match.group(1)))
                known.setdefault(match.group(1), path)
    return out


def _extends_span(source: SourceFile) -> Span | None:
    """The span of the parent's id in a rule file's ``extends`` clause."""
    match = _EXTENDS.search(source.text)
    return Span(source, match.start(1), match.end(1)) if match else None
