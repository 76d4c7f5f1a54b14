"""Records in: raw JSON/YAML data → typed :class:`~kpi_rules.results.SubjectRecord` values.

Records are untrusted. Every field is checked against the rated subject's declared inputs:
nothing undeclared is read, a missing required field, a wrong type or a value out of range
is reported with the record id and the field path, and nothing is silently defaulted except
where the rule set declares a ``default``. One bad record never stops the others.

A record file is JSON (``.json``) or YAML (``.yaml``/``.yml``) holding either a list of
records or ``{"records": [...]}``. A record is::

    {"id": "cc-001", "name": "Nguyễn Văn An", "period": "2026-Q1", "on": "2026-03-31",
     "inputs": {...}, "override": {"level": ..., "decided_by": ..., "decided_on": ...,
                                   "clause": ..., "reason": ...},
     "related": {"supervised": [{"id": "cc-002", "total": 45, "level": "not_complete"}]}}

``related`` gives the results of related subjects in the same period, for a record rated on its
own (a test, a verification); the province run fills them from its own results. A related
subject with a ``total`` is rated unless ``"rated": false`` says otherwise.

Optional form fields, never read by the rules, printed on the Mẫu 01 sheet (docs/reports.md):
``"remarks": {"strengths": ..., "shortcomings": ..., "comments": ...}`` and
``"self_scores"`` / ``"superior_scores"``: criterion id → points (KR620-KR623, :func:`read_remarks`).
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from types import MappingProxyType

from kpi_rules import nodes
from kpi_rules.checked import CheckedRuleset
from kpi_rules.diagnostics import Diagnostic, DiagnosticError
from kpi_rules.results import Override, RecordValue, Related, RelatedResult, SubjectRecord, Value
from kpi_rules.datafiles import load_data_file
from kpi_rules.values import format_exact, literal_value, to_fraction

#: Largest record file read in one piece (larger inputs are streamed by the batch API).
MAX_RECORD_FILE_BYTES = 256 * 1024 * 1024
#: Largest list in one record (task items of one person in one period).
MAX_LIST_ITEMS = 100_000

_RECORD_KEYS = ("id", "name", "period", "on", "inputs", "override", "related",
                "remarks", "self_scores", "superior_scores")
_RELATED_KEYS = ("id", "name", "total", "level", "rated", "inputs")
_OVERRIDE_KEYS = ("level", "decided_by", "decided_on", "clause", "reason")
#: The free-text items 4-6 of the Mẫu 01 sheet (``remarks``); never read by the rules.
REMARK_KEYS = ("strengths", "shortcomings", "comments")
#: Longest remark text kept (a printed sheet has room for a few paragraphs).
MAX_REMARK_CHARS = 4000


@dataclass(frozen=True, slots=True)
class RecordBatch:
    """What a record file gave: the records that passed the checks, and the rejections."""

    records: tuple[SubjectRecord, ...]
    rejected: tuple[Diagnostic, ...]
    #: Ids of the rejected records, in file order (``"#3"`` when a record had no usable id).
    rejected_ids: tuple[str, ...] = ()


def _where(record_id: str, path: str = "") -> str:
    return f"record {record_id}" + (f", field {path}" if path else "")


def _suggest(name: str, choices: Sequence[str]) -> str | None:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


class _Checker:
    """Coerces one record, collecting every problem in it."""

    def __init__(self, checked: CheckedRuleset, record_id: str) -> None:
        self.checked = checked
        self.record_id = record_id
        self.problems: list[Diagnostic] = []

    def problem(self, code: str, path: str, message: str, hint: str | None = None) -> None:
        self.problems.append(
            Diagnostic(code, message, hint=hint, where=_where(self.record_id, path))
        )

    # ---------------------------------------------------------------- fields

    def fields(
        self, raw: object, decls: Sequence[nodes.InputDecl], owner: str, path: str
    ) -> dict[str, Value] | None:
        if not isinstance(raw, Mapping):
            self.problem("KR502", path, f"expected an object with the fields of `{owner}`")
            return None
        by_name = {d.name: d for d in decls}
        for key in raw:
            if not isinstance(key, str) or key not in by_name:
                self.problem(
                    "KR504",
                    _join(path, str(key)),
                    f"`{key}` is not an input of `{owner}`",
                    _suggest(str(key), list(by_name)) or "remove the field or declare it in the rule set",
                )
        out: dict[str, Value] = {}
        for decl in decls:
            field_path = _join(path, decl.name)
            if decl.name not in raw or raw[decl.name] is None:
                if decl.missing == "required":
                    self.problem(
                        "KR501",
                        field_path,
                        f"required input `{decl.name}` ({decl.label.vi}) is missing",
                        "supply a value; the rule set declares no default for it",
                    )
                elif decl.missing == "default" and decl.default is not None:
                    out[decl.name] = literal_value(decl.default)
                else:
                    out[decl.name] = None
                continue
            value = self.value(raw[decl.name], decl, field_path)
            if value is not None:
                out[decl.name] = value
        return out

    def value(self, raw: object, decl: nodes.InputDecl, path: str) -> Value:
        t = decl.type
        if isinstance(t, nodes.ListType):
            return self.items(raw, t.item, path)
        if isinstance(t, nodes.OneOfType):
            if not isinstance(raw, str) or raw not in t.members:
                hint = _suggest(str(raw), t.members) or f"use one of: {', '.join(t.members)}"
                self.problem("KR502", path, f"`{raw}` is not one of {', '.join(t.members)}", hint)
                return None
            return raw
        name = t.name
        if name in ("number", "percent", "points"):
            number = _number(raw)
            if number is None:
                self.problem("KR502", path, f"expected a number, found {_describe(raw)}")
                return None
            if decl.min is not None and number < decl.min:
                self.problem(
                    "KR503",
                    path,
                    f"{format_exact(number)} is below the minimum {format_exact(decl.min)} of `{decl.name}`",
                    "counts and points cannot be negative" if decl.min == 0 else None,
                )
                return None
            if decl.max is not None and number > decl.max:
                self.problem("KR503", path, f"{format_exact(number)} is above the maximum {format_exact(decl.max)} of `{decl.name}`")
                return None
            return number
        if name == "bool":
            if not isinstance(raw, bool):
                self.problem("KR502", path, f"expected true or false, found {_describe(raw)}")
                return None
            return raw
        if name == "text":
            if not isinstance(raw, str):
                self.problem("KR502", path, f"expected text, found {_describe(raw)}")
                return None
            return raw
        day = _date(raw)
        if day is None:
            self.problem("KR502", path, f"expected a date written YYYY-MM-DD, found {_describe(raw)}")
        return day

    def items(self, raw: object, record_name: str, path: str) -> tuple[RecordValue, ...] | None:
        if not isinstance(raw, list):
            self.problem("KR502", path, f"expected a list of `{record_name}`, found {_describe(raw)}")
            return None
        if len(raw) > MAX_LIST_ITEMS:
            self.problem("KR503", path, f"{len(raw)} items exceed the limit of {MAX_LIST_ITEMS} per record")
            return None
        decl = self.checked.records[record_name]
        out: list[RecordValue] = []
        for index, item in enumerate(raw):
            fields = self.fields(item, decl.inputs, record_name, f"{path}[{index}]")
            if fields is not None:
                out.append(MappingProxyType(fields))
        return tuple(out)

    def override(self, raw: object) -> Override | None:
        rating = self.checked.ruleset.rating
        if rating is None or rating.override is None:
            self.problem("KR507", "override", "this rule set does not allow overrides", "remove the override")
            return None
        if not isinstance(raw, Mapping):
            self.problem("KR507", "override", "an override must be an object with " + ", ".join(_OVERRIDE_KEYS))
            return None
        missing = [k for k in _OVERRIDE_KEYS if not isinstance(raw.get(k), str) or not str(raw.get(k)).strip()]
        extra = [str(k) for k in raw if k not in _OVERRIDE_KEYS]
        if missing or extra:
            parts = []
            if missing:
                parts.append("missing or empty: " + ", ".join(missing))
            if extra:
                parts.append("unknown: " + ", ".join(extra))
            self.problem(
                "KR507", "override", "invalid override (" + "; ".join(parts) + ")",
                "an override records who decided, when (YYYY-MM-DD), under which clause and why",
            )
            return None
        levels = [level.name for level in rating.levels]
        level = str(raw["level"])
        if level not in levels:
            self.problem("KR507", "override.level", f"`{level}` is not a level of this rule set",
                         _suggest(level, levels) or f"use one of: {', '.join(levels)}")
            return None
        decided_on = _date(raw["decided_on"])
        if decided_on is None:
            self.problem("KR507", "override.decided_on", "expected a date written YYYY-MM-DD")
            return None
        return Override(level, str(raw["decided_by"]), decided_on, str(raw["clause"]), str(raw["reason"]))


@dataclass(frozen=True, slots=True)
class Remarks:
    """The human parts of a record that the Mẫu 01 sheet prints and the rules never read:
    strengths, shortcomings, the appraiser's comments (items 4-6), and the scores the person
    gave themself and the superior gave, per criterion id (the columns beside the engine's)."""

    strengths: str | None = None
    shortcomings: str | None = None
    comments: str | None = None
    self_scores: Mapping[str, Fraction] = field(default_factory=dict)
    superior_scores: Mapping[str, Fraction] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.strengths or self.shortcomings or self.comments
                    or self.self_scores or self.superior_scores)


def _criterion_maxima(checked: CheckedRuleset) -> dict[str, Fraction]:
    """Every id of the criteria tree (the total, groups, criteria) → its maximum."""
    out: dict[str, Fraction] = {}
    tree = checked.ruleset.criteria
    if tree is None:
        return out
    out[tree.name] = tree.max
    stack: list[nodes.CriteriaItem] = list(tree.children)
    while stack:
        item = stack.pop()
        out[item.name] = item.max
        if isinstance(item, nodes.CriteriaGroup):
            stack.extend(item.children)
    return out


def _remarks(checker: _Checker, raw: Mapping[str, object]) -> Remarks:
    """``remarks``, ``self_scores`` and ``superior_scores`` of a record (KR620-KR623)."""
    texts: dict[str, str | None] = {k: None for k in REMARK_KEYS}
    given = raw.get("remarks")
    if isinstance(given, Mapping):
        for key, value in given.items():
            path = f"remarks.{key}"
            if key not in REMARK_KEYS:
                checker.problem("KR620", path, f"`{key}` is not a remark",
                                _suggest(str(key), REMARK_KEYS) or "remarks: " + ", ".join(REMARK_KEYS))
            elif value is not None and not isinstance(value, str):
                checker.problem("KR620", path, f"expected text, found {_describe(value)}")
            elif isinstance(value, str) and len(value) > MAX_REMARK_CHARS:
                checker.problem("KR620", path, f"{len(value)} characters exceed the limit of {MAX_REMARK_CHARS}",
                                "shorten the remark; the sheet is printed on A4")
            elif isinstance(value, str) and value.strip():
                texts[str(key)] = value.strip()
    elif given is not None:
        checker.problem("KR620", "remarks", f"expected an object with {', '.join(REMARK_KEYS)}, "
                        f"found {_describe(given)}")
    given_scores = raw.get("self_scores") is not None or raw.get("superior_scores") is not None
    maxima = _criterion_maxima(checker.checked) if given_scores else {}
    scores = {key: _scores(checker, raw.get(key), key, maxima) for key in ("self_scores", "superior_scores")}
    return Remarks(texts["strengths"], texts["shortcomings"], texts["comments"],
                   scores["self_scores"], scores["superior_scores"])


def _scores(checker: _Checker, raw: object, key: str, maxima: Mapping[str, Fraction]) -> Mapping[str, Fraction]:
    if raw is None:
        return MappingProxyType({})
    if not isinstance(raw, Mapping):
        checker.problem("KR621", key, f"expected an object: criterion id → points, found {_describe(raw)}")
        return MappingProxyType({})
    out: dict[str, Fraction] = {}
    for name, value in raw.items():
        path = f"{key}.{name}"
        if name not in maxima:
            checker.problem("KR622", path, f"`{name}` is not a criterion of this rule set",
                            _suggest(str(name), sorted(maxima)) or "use the ids of the criteria tree")
            continue
        number = _number(value)
        if number is None:
            checker.problem("KR621", path, f"expected a number of points, found {_describe(value)}")
        elif number < 0 or number > maxima[name]:
            checker.problem("KR623", path, f"{format_exact(number)} is outside 0 to {format_exact(maxima[name])}, "
                            f"the range of `{name}`")
        else:
            out[str(name)] = number
    return MappingProxyType(out)


def read_remarks(raw: Mapping[str, object], checked: CheckedRuleset) -> Remarks:
    """The remarks and hand-given scores of one raw record, for the Mẫu 01 sheet.

    Raises DiagnosticError (KR620-KR623) naming the record id and the field.
    """
    record_id = raw.get("id")
    checker = _Checker(checked, str(record_id) if isinstance(record_id, (str, int)) else "?")
    remarks = _remarks(checker, raw)
    if checker.problems:
        raise DiagnosticError(checker.problems)
    return remarks


def _related(checker: _Checker, raw: object) -> Related:
    """Relation values written in a record, checked against the relations the subject declares."""
    checked = checker.checked
    declared = {r.name: r for r in checked.subject.relations}
    if not isinstance(raw, Mapping):
        checker.problem("KR502", "related", "expected an object: relation name → related subject(s)")
        return {}
    out: dict[str, tuple[RelatedResult, ...] | RelatedResult | None] = {}
    for name, value in raw.items():
        path = f"related.{name}"
        relation = declared.get(str(name))
        if relation is None:
            checker.problem("KR504", path, f"`{name}` is not a relation of `{checked.subject.name}`",
                            _suggest(str(name), list(declared)) or "declare the relation in the rule set")
            continue
        if relation.many:
            if not isinstance(value, list):
                checker.problem("KR502", path, f"`{name}` is a list of {relation.target}: expected a list")
                continue
            items = [_related_one(checker, item, relation.target, f"{path}[{i}]") for i, item in enumerate(value)]
            out[relation.name] = tuple(item for item in items if item is not None)
        elif value is None:
            out[relation.name] = None
        else:
            out[relation.name] = _related_one(checker, value, relation.target, path)
    return out


def _related_one(checker: _Checker, raw: object, target: str, path: str) -> RelatedResult | None:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("id"), str):
        checker.problem("KR502", path, "a related subject is an object with an `id` (text)")
        return None
    for key in raw:
        if key not in _RELATED_KEYS:
            checker.problem("KR504", f"{path}.{key}", f"`{key}` is not a field of a related subject",
                            _suggest(str(key), _RELATED_KEYS) or "fields: " + ", ".join(_RELATED_KEYS))
    total = _number(raw["total"]) if raw.get("total") is not None else None
    if raw.get("total") is not None and total is None:
        checker.problem("KR502", f"{path}.total", f"expected a number, found {_describe(raw['total'])}")
    level, rated = raw.get("level"), raw.get("rated", total is not None)
    if level is not None and not isinstance(level, str):
        checker.problem("KR502", f"{path}.level", "expected the id of a level (text)")
        level = None
    if not isinstance(rated, bool):
        checker.problem("KR502", f"{path}.rated", f"expected true or false, found {_describe(rated)}")
        rated = False
    if rated and total is None:
        checker.problem("KR501", f"{path}.total", "a rated related subject needs its total")
    subject = checker.checked.subjects.get(target)
    inputs: dict[str, Value] | None = {}
    if rated:
        # Only the inputs given are checked: a rule set reads few of a related subject's inputs,
        # and one it reads that is missing is a run-time error naming it (KR501).
        given = raw.get("inputs", {})
        decls = tuple(d for d in (subject.inputs if subject else ()) if isinstance(given, Mapping) and d.name in given)
        known = {d.name for d in (subject.inputs if subject else ())}
        for key in given if isinstance(given, Mapping) else ():
            if key not in known:
                checker.problem("KR504", f"{path}.inputs.{key}", f"`{key}` is not an input of `{target}`",
                                _suggest(str(key), sorted(known)) or "remove the field")
        inputs = checker.fields({k: v for k, v in given.items() if k in known} if isinstance(given, Mapping) else given,
                                decls, target, f"{path}.inputs")
    elif raw.get("inputs"):
        checker.problem("KR504", f"{path}.inputs", "a related subject that is not rated has no inputs",
                        "remove its inputs, or give its total")
    name = raw.get("name") if isinstance(raw.get("name"), str) else None
    return RelatedResult(str(raw["id"]), total, level if rated else None, bool(rated), inputs or {}, None, name)


def coerce_record(raw: Mapping[str, object], checked: CheckedRuleset) -> SubjectRecord:
    """Check one raw record against the rated subject's inputs and convert it.

    Raises DiagnosticError with every problem found in the record.
    """
    record_id = raw.get("id") if isinstance(raw, Mapping) else None
    if not isinstance(raw, Mapping) or not isinstance(record_id, (str, int)) or isinstance(record_id, bool):
        raise DiagnosticError([
            Diagnostic("KR509", "a record must be an object with an `id` (text)", where="record ?")
        ])
    checker = _Checker(checked, str(record_id))
    for key in raw:
        if key not in _RECORD_KEYS:
            checker.problem("KR504", str(key), f"`{key}` is not a record field",
                            _suggest(str(key), _RECORD_KEYS) or "record fields: " + ", ".join(_RECORD_KEYS))
    name = _optional_text(checker, raw, "name")
    period = _optional_text(checker, raw, "period")
    on: dt.date | None = None
    if raw.get("on") is not None:
        on = _date(raw["on"])
        if on is None:
            checker.problem("KR502", "on", "expected a date written YYYY-MM-DD")
        elif not checked.ruleset.in_force.contains(on):
            validity = checked.ruleset.in_force
            until = f" until {validity.end.isoformat()}" if validity.end else ""
            checker.problem("KR510", "on", f"the rule set is not in force on {on.isoformat()}",
                            f"it is in force from {validity.start.isoformat()}{until}")
    inputs = checker.fields(raw.get("inputs", {}), checked.subject.inputs, checked.subject.name, "inputs")
    override = checker.override(raw["override"]) if raw.get("override") is not None else None
    related = _related(checker, raw["related"]) if raw.get("related") is not None else {}
    _remarks(checker, raw)  # checked here so a bad shape rejects the record; read by reporting
    if checker.problems or inputs is None:
        raise DiagnosticError(checker.problems)
    return SubjectRecord(str(record_id), MappingProxyType(inputs), name, period, on, override, related)


def coerce_records(raws: Sequence[object], checked: CheckedRuleset) -> RecordBatch:
    """Coerce many records; bad ones (and duplicate ids) are rejected, the rest kept in order.

    Items that are already :class:`SubjectRecord` values are taken as they are.
    """
    good: list[SubjectRecord] = []
    rejected: list[Diagnostic] = []
    rejected_ids: list[str] = []
    seen: set[str] = set()
    for position, raw in enumerate(raws, start=1):
        try:
            record = raw if isinstance(raw, SubjectRecord) else coerce_record(
                raw if isinstance(raw, Mapping) else {}, checked
            )
        except DiagnosticError as error:
            rejected.extend(error.diagnostics)
            rid = raw.get("id") if isinstance(raw, Mapping) else None
            rejected_ids.append(str(rid) if isinstance(rid, (str, int)) else f"#{position}")
            continue
        if record.id in seen:
            rejected.append(Diagnostic("KR508", f"record id `{record.id}` appears more than once",
                                       where=_where(record.id), hint="each record needs its own id"))
            rejected_ids.append(record.id)
            continue
        seen.add(record.id)
        good.append(record)
    return RecordBatch(tuple(good), tuple(rejected), tuple(rejected_ids))


def load_record_data(path: str | Path) -> list[object]:
    """Read a record file (JSON or YAML) into raw records. Raises DiagnosticError (KR509/KR601)."""
    where = str(path)
    data = load_data_file(path, code="KR509", what="record", max_bytes=MAX_RECORD_FILE_BYTES)
    if isinstance(data, Mapping) and set(data) <= {"records"} and isinstance(data.get("records"), list):
        return list(data["records"])
    if isinstance(data, list):
        return data
    raise DiagnosticError([Diagnostic("KR509", "expected a list of records or an object {\"records\": [...]}", where=where)])


def _number(raw: object) -> Fraction | None:
    """An exact number from JSON/YAML/Python data (not text, not bool), or None."""
    if isinstance(raw, (str, bool)):
        return None
    try:
        return to_fraction(raw)
    except (TypeError, ValueError):
        return None


def _date(raw: object) -> dt.date | None:
    if isinstance(raw, dt.date) and not isinstance(raw, dt.datetime):
        return raw
    if isinstance(raw, str) and len(raw) == 10:
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            return None
    return None


def _optional_text(checker: _Checker, raw: Mapping[str, object], key: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        checker.problem("KR502", key, f"expected text, found {_describe(value)}")
        return None
    return value


def _describe(raw: object) -> str:
    if raw is None:
        return "nothing"
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, (int, float, Decimal)):
        return f"the number {raw}"
    if isinstance(raw, str):
        return f"the text \"{raw[:40]}\""
    if isinstance(raw, list):
        return "a list"
    if isinstance(raw, Mapping):
        return "an object"
    return type(raw).__name__


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
