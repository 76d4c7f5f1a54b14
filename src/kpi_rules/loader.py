"""Rule files in: path or text → parsed, checked and compiled :class:`~kpi_rules.plan.Plan`.

The form is chosen by the file's extension (``.kpi`` text, ``.yaml``/``.yml`` YAML). The content
hash in the provenance stamp is the SHA-256 of the rule file's text, so a result can always be
traced to the exact rules that produced it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from kpi_rules import nodes
from kpi_rules.compiler import compile_ruleset
from kpi_rules.diagnostics import Diagnostic, DiagnosticError
from kpi_rules.parser import parse_ruleset
from kpi_rules.plan import Plan
from kpi_rules.source import MAX_SOURCE_BYTES, SourceFile
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


def compile_source(source: SourceFile) -> Plan:
    """Parse, check and compile one rule file. Raises DiagnosticError with every problem found."""
    ruleset = parse_source(source)
    checked = check_ruleset(ruleset)
    return compile_ruleset(checked, content_hash=content_hash([source]))


def load_plan(path: str | Path) -> Plan:
    return compile_source(read_source(path))


def content_hash(sources: list[SourceFile]) -> str:
    """SHA-256 over the rule files' texts, in path order, each prefixed by its length."""
    digest = hashlib.sha256()
    for source in sorted(sources, key=lambda s: s.path):
        data = source.text.encode("utf-8")
        digest.update(f"{len(data)}:".encode())
        digest.update(data)
    return "sha256:" + digest.hexdigest()
