"""Untrusted data files in (records, province data): JSON or YAML → plain Python values.

One reader for every data file, so each gets the same protections: a size limit, UTF-8 only,
duplicate keys rejected (JSON and YAML), JSON decimals kept exact (``Decimal``, never ``float``),
and the safe YAML rules of :mod:`kpi_rules.safe_yaml` (no implicit dates, no aliases, limited
nesting). Problems become one diagnostic with the caller's code, naming the file.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from kpi_rules.diagnostics import Diagnostic, DiagnosticError
from kpi_rules.safe_yaml import SafeYamlError, load_safe_yaml

DATA_SUFFIXES = (".json", ".yaml", ".yml")


def load_data_file(path: str | Path, *, code: str, what: str, max_bytes: int) -> object:
    """Read a JSON or YAML data file.

    Args:
        path: the file; its extension picks the format.
        code: the diagnostic code for a malformed file (e.g. KR509 for records).
        what: what the file holds, for messages ("record", "province").
        max_bytes: the largest file accepted.

    Raises:
        DiagnosticError: KR601 unreadable, KR602 unknown extension, ``code`` for anything else.
    """
    p = Path(path)
    where = str(p)

    def fail(message: str, use: str = code, hint: str | None = None) -> DiagnosticError:
        return DiagnosticError([Diagnostic(use, message, where=where, hint=hint)])

    try:
        if p.stat().st_size > max_bytes:
            raise fail(f"the file is larger than {max_bytes} bytes")
        text = p.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise fail(f"cannot read the file: {error.strerror}", "KR601") from None
    except UnicodeDecodeError:
        raise fail("the file is not UTF-8 text", hint="save the file as UTF-8") from None
    suffix = p.suffix.lower()
    if suffix == ".json":
        try:
            return json.loads(text, parse_float=Decimal, object_pairs_hook=_no_duplicates)
        except _DuplicateKey as error:
            raise fail(f"duplicate key `{error.key}` in JSON") from None
        except json.JSONDecodeError as error:
            raise fail(f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}") from None
        except RecursionError:
            raise fail("JSON nested too deeply") from None
    if suffix in (".yaml", ".yml"):
        try:
            return load_safe_yaml(text)
        except SafeYamlError as error:
            raise fail(str(error)) from None
    raise fail(f"unknown {what} file type `{suffix}`", "KR602",
               hint=f"{what} data is read from .json, .yaml or .yml files")


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out
