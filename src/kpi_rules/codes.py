"""The registry of stable diagnostic codes.

Codes are never reused or renumbered. Ranges: KR1xx syntax of the text form, KR2xx the
YAML form, KR3xx checks on a parsed rule set, KR4xx the evaluation graph, KR5xx records
and evaluation, KR6xx command line and files. ``docs/errors.md`` has one heading per code
(a test keeps the two in step).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CodeInfo:
    code: str
    title: str


def _registry(*entries: tuple[str, str]) -> dict[str, CodeInfo]:
    table: dict[str, CodeInfo] = {}
    for code, title in entries:
        if code in table:
            raise ValueError(f"duplicate diagnostic code {code}")
        table[code] = CodeInfo(code, title)
    return table


CODES: dict[str, CodeInfo] = _registry(
    # KR1xx: the text form
    ("KR101", "unexpected token"),
    ("KR102", "unexpected character"),
    ("KR103", "unexpected end of file"),
    ("KR104", "invalid literal"),
    ("KR105", "input too large or nested too deeply"),
    ("KR106", "duplicate clause in a declaration"),
    # KR2xx: the YAML form
    ("KR201", "YAML syntax error"),
    ("KR202", "duplicate key in YAML"),
    ("KR203", "missing YAML field"),
    ("KR204", "unexpected YAML field"),
    ("KR205", "wrong YAML value type"),
    # KR3xx: checks on a rule set
    ("KR301", "unknown name"),
    ("KR302", "duplicate id"),
    ("KR303", "type mismatch"),
    ("KR304", "criteria maxima do not add up"),
    ("KR305", "gap between rating bands"),
    ("KR306", "overlapping rating bands"),
    ("KR307", "table is missing a key"),
    ("KR308", "no version in force"),
    ("KR309", "unknown function or wrong arguments"),
    ("KR310", "unknown field"),
    ("KR311", "unknown one-of value"),
    ("KR312", "invalid input declaration"),
    ("KR313", "optional input read without a guard"),
    ("KR314", "tier thresholds out of order"),
    ("KR315", "unknown level"),
    ("KR316", "unknown subject or record type"),
    ("KR317", "invalid maximum or band"),
    ("KR318", "missing rating levels"),
    ("KR319", "group inside a bonus or penalty"),
    ("KR320", "unknown level in periods or a cohort rule"),
    ("KR321", "invalid period label"),
    ("KR322", "unknown period kind"),
    ("KR323", "invalid combine rule"),
    ("KR324", "invalid rating-count condition"),
    ("KR325", "quota rate out of range"),
    ("KR326", "invalid quota order"),
    ("KR327", "invalid quota levels"),
    ("KR328", "invalid quota groups"),
    ("KR329", "period results do not fit the span"),
    ("KR340", "monotone option on an unordered input"),
    ("KR350", "parent rule set not found"),
    ("KR351", "cycle in an extends chain"),
    ("KR352", "variant rates another subject"),
    ("KR353", "nothing to remove"),
    ("KR354", "remove without extends"),
    ("KR355", "ambiguous parent rule set"),
    ("KR360", "unknown relation"),
    # KR4xx: the evaluation graph
    ("KR401", "cycle between definitions"),
    # KR5xx: records and evaluation
    ("KR501", "missing required field"),
    ("KR502", "wrong field type"),
    ("KR503", "value out of range"),
    ("KR504", "undeclared field"),
    ("KR505", "no table entry for key"),
    ("KR506", "division by zero"),
    ("KR507", "override not allowed or invalid"),
    ("KR508", "duplicate record id"),
    ("KR509", "invalid record file"),
    ("KR510", "no version in force on the evaluation day"),
    # KR6xx: command line and files
    ("KR601", "cannot read file"),
    ("KR602", "unknown file type"),
    # KR620-KR629: the form fields of a record (remarks and hand-given scores, docs/reports.md)
    ("KR620", "invalid remarks"),
    ("KR621", "invalid hand-given scores"),
    ("KR622", "score for an unknown criterion"),
    ("KR623", "hand-given score out of range"),
    # KR7xx: province data and bundles
    ("KR701", "invalid province file"),
    ("KR702", "duplicate id in province data"),
    ("KR703", "unknown parent unit"),
    ("KR704", "cycle in the unit tree"),
    ("KR705", "unknown unit of a person"),
    ("KR706", "unknown role of a person"),
    ("KR707", "two heads of one unit"),
    ("KR708", "record for an unknown subject"),
    ("KR709", "invalid or duplicate province record"),
    ("KR710", "invalid field assignment"),
    ("KR711", "invalid bundle file"),
    ("KR712", "unknown role in a bundle"),
    ("KR713", "relation between the wrong kinds"),
    ("KR714", "cycle between roles"),
    ("KR715", "cycle between subjects"),
    ("KR716", "invalid bundle setting"),
    ("KR717", "related subject rejected"),
    # KR72x: runs on a Dask cluster (kpi_rules.distributed)
    ("KR720", "dask is not installed"),
    ("KR721", "rule files differ from the loaded ones"),
    ("KR722", "unreadable distributed input"),
    # KR73x: the columnar province form (kpi_rules.province_tables)
    ("KR730", "unreadable province table"),
    ("KR731", "missing column in a province table"),
    ("KR732", "province table row without an id"),
    ("KR733", "task items without a record"),
    ("KR734", "invalid province manifest"),
    # KR8xx: product catalogues
    ("KR801", "invalid catalogue file"),
    ("KR802", "missing catalogue field"),
    ("KR803", "unexpected catalogue field"),
    ("KR804", "wrong catalogue value"),
    ("KR805", "unknown job position"),
    ("KR806", "unknown complexity group"),
    ("KR807", "more than five complexity groups"),
    ("KR808", "missing coefficient"),
    ("KR809", "overlapping dates for a product code"),
    ("KR810", "duplicate id in a catalogue"),
    ("KR811", "unknown product code"),
    ("KR812", "no catalogue table to bind"),
    ("KR813", "invalid catalogue dates"),
    # KR9xx: tests beside the rules (*.tests.yaml)
    ("KR901", "invalid test file"),
    ("KR902", "no rule file for the tests"),
    ("KR903", "unknown name in a test expectation"),
    ("KR904", "rule set without tests"),
)


def code_title(code: str) -> str:
    return CODES[code].title
