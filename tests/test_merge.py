"""Variants: ``extends``, merge by name at every level, ``remove``, parent lookup and provenance."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

import kpi_rules
from kpi_rules import nodes
from kpi_rules.diagnostics import DiagnosticError
from kpi_rules.loader import content_hash, resolve_ruleset
from kpi_rules.merge import merge_rulesets
from kpi_rules.parser import parse_ruleset
from kpi_rules.printer import format_ruleset
from kpi_rules.source import SourceFile
from kpi_rules.yaml_form import dump_yaml_ruleset, load_yaml_ruleset

ROOT = Path(__file__).resolve().parent.parent

BASE = """ruleset base.rules "Gốc" {
  basis "B"
  version "1"
  in_force from 2026-01-01
  rates person

  record item "Mục" {
    input size : number min 0 "Cỡ"
  }

  subject person "Người" {
    input x : number min 0 max 100 "X"
    input y : number min 0 max 100 "Y"
    input flag : bool default false "Cờ"
    input items : list of item "Các mục"
  }

  param weight : number = 1 "Trọng số" from 2026-01-01 until 2026-07-01
  param weight : number = 2 "Trọng số" from 2026-07-01

  table bonus_for : text -> number "Bảng" {
    "a" = 1
  }

  let half "Nửa" = x / 2

  criteria total "Tổng" max 100 {
    group g1 "Nhóm 1" max 50 {
      criterion c1 "C1" max 50 = x / 2
    }
    group g2 "Nhóm 2" max 50 {
      criterion c2 "C2" max 25 = y / 4
      criterion c3 "C3" max 25 = y / 4
    }
  }

  rating {
    level top "Cao" from 90
    level mid "Giữa" from 50 below 90 {
      require enough "Đủ" = x >= 10
    }
    level low "Thấp" below 50
    disqualify flagged "Bị gắn cờ" when flag to low
  }
}
"""


def _head(body: str, rid: str = "child.rules", extends: str = "base.rules", rates: str = "person") -> str:
    return (f'ruleset {rid} "Con" {{\n  basis "C"\n  version "2"\n  in_force from 2026-01-01\n'
            f"  extends {extends}\n  rates {rates}\n{body}\n}}\n")


def _parse(text: str, path: str = "child.kpi") -> nodes.Ruleset:
    return parse_ruleset(SourceFile(path, text))


def _merge(body: str) -> nodes.Ruleset:
    return merge_rulesets(_parse(BASE, "base.kpi"), _parse(_head(body)))


def _tree_names(tree: nodes.CriteriaTree | None) -> list[str]:
    out: list[str] = []

    def walk(items: tuple[nodes.CriteriaItem, ...]) -> None:
        for item in items:
            out.append(item.name)
            if isinstance(item, nodes.CriteriaGroup):
                walk(item.children)

    assert tree is not None
    walk(tree.children)
    return out


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "criteria" / "base").mkdir(parents=True)
    (tmp_path / "criteria" / "local").mkdir()
    (tmp_path / "criteria" / "base" / "rules.kpi").write_text(BASE, encoding="utf-8")
    return tmp_path / "criteria"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- merge by name


def test_header_replaced_and_nothing_else_changes() -> None:
    merged = _merge("")
    base = _parse(BASE, "base.kpi")
    assert (merged.id, merged.title.vi, merged.basis, merged.version) == ("child.rules", "Con", "C", "2")
    assert merged.extends == "base.rules"
    assert (merged.records, merged.subjects, merged.params, merged.tables, merged.lets) == (
        base.records, base.subjects, base.params, base.tables, base.lets)
    assert merged.criteria == base.criteria and merged.rating == base.rating


def test_inputs_replaced_in_place_and_added_within_a_subject() -> None:
    merged = _merge('  subject person "Công chức" {\n    input y : number min 0 max 10 "Y mới"\n'
                    '    input z : number default 0 "Z"\n  }')
    person = merged.subjects[0]
    assert person.label.vi == "Công chức"
    assert [i.name for i in person.inputs] == ["x", "y", "flag", "items", "z"]
    assert person.inputs[1].max == 10


def test_record_types_merge_by_name() -> None:
    merged = _merge('  record item "Mục" {\n    input assigned_on : date optional "Ngày giao"\n  }')
    assert [i.name for i in merged.records[0].inputs] == ["size", "assigned_on"]


def test_child_versions_replace_all_parent_versions() -> None:
    merged = _merge('  param weight : number = 5 "Trọng số"\n  param extra : number = 1 "Mới"')
    assert [(p.name, p.value) for p in merged.params] == [
        ("weight", nodes.NumberLit(Fraction(5))), ("extra", nodes.NumberLit(Fraction(1)))]


def test_tables_and_lets_replace_by_name() -> None:
    merged = _merge('  table bonus_for : text -> number "Bảng" {\n    "b" = 2\n  }\n  let half "Nửa" = x / 3\n'
                    '  let third "Ba" = x / 3')
    assert [r.key for r in merged.tables[0].rows] == [nodes.StringLit("b")]
    assert [let.name for let in merged.lets] == ["half", "third"]
    assert merged.lets[0].expr == merged.lets[1].expr


def test_a_criterion_is_replaced_by_id_anywhere_in_the_tree() -> None:
    merged = _merge('  criteria total "Tổng" max 100 {\n    criterion c3 "C3 mới" max 25 = y / 8\n  }')
    assert _tree_names(merged.criteria) == ["g1", "c1", "g2", "c2", "c3"]
    assert merged.criteria is not None
    g2 = merged.criteria.children[1]
    assert isinstance(g2, nodes.CriteriaGroup) and g2.children[1].label.vi == "C3 mới"


def test_a_group_is_replaced_with_its_subtree_and_new_items_are_added_at_the_root() -> None:
    merged = _merge('  criteria total "Tổng" max 105 {\n    group g2 "Nhóm 2" max 50 {\n'
                    '      criterion only "Duy nhất" max 50 = y / 2\n    }\n'
                    '    bonus extra "Thưởng" max 5 {\n      criterion e "E" max 5 = 1\n    }\n  }')
    assert _tree_names(merged.criteria) == ["g1", "c1", "g2", "only", "extra", "e"]
    assert merged.criteria is not None and merged.criteria.max == 105


def test_levels_conditions_and_disqualifiers_merge_by_id() -> None:
    merged = _merge('  rating {\n    level mid "Giữa" from 60 below 90 {\n      require calm "Bình tĩnh" = y < 90\n    }\n'
                    '    level low "Thấp" below 60\n    level extra "Xuất sắc hơn" from 95\n'
                    '    disqualify flagged "Cờ mới" when flag to mid\n    disqualify big "Lớn" when y > 99\n'
                    '    fallthrough lowest\n  }')
    rating = merged.rating
    assert rating is not None
    assert [lv.name for lv in rating.levels] == ["extra", "top", "mid", "low"]
    mid = rating.levels[2]
    assert (mid.lower, [c.name for c in mid.conditions]) == (60, ["enough", "calm"])
    assert [(q.name, q.target) for q in rating.disqualifiers] == [("flagged", "mid"), ("big", None)]
    assert rating.fallthrough == "lowest"


def test_removals_at_every_level() -> None:
    merged = _merge("  remove disqualify flagged\n  remove require mid.enough\n  remove input person.flag\n"
                    "  remove criterion c3\n  remove let half\n  remove table bonus_for\n  remove param weight\n"
                    '  criteria total "Tổng" max 100 {\n    criterion c2 "C2" max 50 = y / 2\n  }')
    assert merged.rating is not None and merged.rating.disqualifiers == ()
    assert merged.rating.levels[1].conditions == ()
    assert [i.name for i in merged.subjects[0].inputs] == ["x", "y", "items"]
    assert _tree_names(merged.criteria) == ["g1", "c1", "g2", "c2"]
    assert merged.lets == merged.tables == merged.params == ()
    assert merged.removals == ()


def test_removing_what_the_parent_lacks_is_an_error_with_a_suggestion() -> None:
    with pytest.raises(DiagnosticError) as info:
        _merge("  remove disqualify flaged\n  remove level nothing")
    text = info.value.render()
    assert "error[KR353]: cannot remove disqualify `flaged`" in text
    assert "help: did you mean `flagged`?" in text
    assert "child.kpi:7:3" in text
    assert "`base.rules` has: `top`, `mid`, `low`" in text


def test_a_variant_must_rate_the_same_subject() -> None:
    with pytest.raises(DiagnosticError) as info:
        merge_rulesets(_parse(BASE, "base.kpi"), _parse(_head("", rates="unit")))
    assert "error[KR352]: this variant rates `unit` but `base.rules` rates `person`" in info.value.render()


def test_remove_round_trips_through_printer_and_yaml() -> None:
    child = _parse(_head("  # the national ground does not apply here\n  remove disqualify flagged\n  remove input person.flag"))
    assert _parse(format_ruleset(child)) == child
    assert load_yaml_ruleset(SourceFile("c.yaml", dump_yaml_ruleset(child))) == child
    assert "  # the national ground does not apply here\n  remove disqualify flagged\n" in format_ruleset(child)


# --------------------------------------------------------------------------- loading chains


def test_parent_found_under_the_criteria_root_and_merged_result_checked(tree: Path) -> None:
    child = _write(tree / "local" / "child.kpi", _head('  let half "Nửa" = x / 4'))
    rules = kpi_rules.load(child)
    result = rules.evaluate({"id": "p1", "inputs": {"x": 100, "y": 100, "items": []}})
    assert result.total == 100 and result.values["half"] == 25
    assert rules.id == "child.rules"


def test_parent_beside_the_child_wins_and_yaml_parents_work(tree: Path, tmp_path: Path) -> None:
    beside = tmp_path / "elsewhere"
    beside.mkdir()
    base = _parse(BASE, "base.kpi")
    _write(beside / "base.yaml", dump_yaml_ruleset(base))
    child = _write(beside / "child.kpi", _head(""))
    merged, sources = resolve_ruleset(SourceFile.read(child))
    assert [Path(s.path).name for s in sources] == ["child.kpi", "base.yaml"]
    assert merged.criteria == base.criteria


def test_extends_chains_of_three(tree: Path) -> None:
    _write(tree / "local" / "mid.kpi", _head('  let half "Nửa" = x / 4', rid="mid.rules"))
    leaf = _write(tree / "local" / "leaf.kpi", _head('  param weight : number = 9 "W"', rid="leaf.rules", extends="mid.rules"))
    merged, sources = resolve_ruleset(SourceFile.read(leaf))
    assert [Path(s.path).name for s in sources] == ["leaf.kpi", "mid.kpi", "rules.kpi"]
    assert merged.id == "leaf.rules" and merged.extends == "mid.rules"
    assert [p.value for p in merged.params] == [nodes.NumberLit(Fraction(9))]
    assert isinstance(merged.lets[0].expr, nodes.Binary) and merged.lets[0].expr.right == nodes.NumberLit(Fraction(4))


def test_a_cycle_in_the_chain_is_rejected(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.kpi", _head("", rid="loop.a", extends="loop.b"))
    _write(tmp_path / "b.kpi", _head("", rid="loop.b", extends="loop.a"))
    with pytest.raises(DiagnosticError) as info:
        kpi_rules.load(a)
    text = info.value.render()
    assert "error[KR351]: the extends chain comes back to `loop.a`: loop.a → loop.b → loop.a" in text
    assert f"{a}:5:11" in text


def test_extending_oneself_is_a_cycle(tmp_path: Path) -> None:
    me = _write(tmp_path / "me.kpi", _head("", rid="self.rules", extends="self.rules"))
    with pytest.raises(DiagnosticError) as info:
        kpi_rules.load(me)
    assert "KR351" in info.value.render()


def test_missing_parent_says_did_you_mean(tree: Path) -> None:
    child = _write(tree / "local" / "child.kpi", _head("", extends="base.rule"))
    with pytest.raises(DiagnosticError) as info:
        kpi_rules.load(child)
    text = info.value.render()
    assert "error[KR350]: no rule file declares `ruleset base.rule`" in text
    assert "help: did you mean `base.rules`" in text
    assert "child.kpi:5:11" in text


def test_two_files_declaring_the_parent_are_ambiguous(tree: Path) -> None:
    _write(tree / "local" / "copy.kpi", BASE)
    _write(tree / "base" / "copy.kpi", BASE)
    child = _write(tree / "child.kpi", _head(""))
    with pytest.raises(DiagnosticError) as info:
        kpi_rules.load(child)
    assert "error[KR355]" in info.value.render()


def test_search_path_parameter(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    _write(lib / "anything.kpi", BASE)
    work = tmp_path / "work"
    work.mkdir()
    child = _write(work / "child.kpi", _head(""))
    with pytest.raises(DiagnosticError):
        kpi_rules.load(child)
    assert kpi_rules.load(child, search_path=[lib]).id == "child.rules"


def test_remove_without_extends_is_an_error() -> None:
    text = 'ruleset solo "S" {\n  basis "b"\n  version "1"\n  in_force from 2026-01-01\n  rates p\n  remove let x\n}\n'
    with pytest.raises(DiagnosticError) as info:
        kpi_rules.loads(text, "solo.kpi")
    assert "solo.kpi:6:3: error[KR354]" in info.value.render()


def test_problems_point_into_the_file_that_declared_them(tree: Path) -> None:
    # The child's let is fine; it reads an unknown name in the child, and the parent's criterion
    # reads an input the child removed: each diagnostic names its own file.
    child = _write(tree / "local" / "child.kpi", _head('  remove input person.y\n  let bad "Sai" = nope + 1'))
    with pytest.raises(DiagnosticError) as info:
        kpi_rules.load(child)
    text = info.value.render()
    assert f"{child}:8:19: error[KR301]: unknown name `nope`" in text
    assert f"{tree / 'base' / 'rules.kpi'}:32:34: error[KR301]: unknown name `y`" in text


def test_provenance_covers_every_file_of_the_chain(tree: Path) -> None:
    child = _write(tree / "local" / "child.kpi", _head(""))
    rules = kpi_rules.load(child)
    parent = SourceFile.read(tree / "base" / "rules.kpi")
    mine = SourceFile.read(child)
    assert rules.content_hash == content_hash([mine, parent])
    assert rules.content_hash != content_hash([mine])
    assert [s.split(" ")[0] for s in rules.plan.provenance.sources] == [str(child), str(tree / "base" / "rules.kpi")]
    assert rules.plan.provenance.sources[1].endswith(parent.sha256())
    _write(tree / "base" / "rules.kpi", BASE.replace('"Gốc"', '"Gốc 2"'))
    assert kpi_rules.load(child).content_hash != rules.content_hash


def test_shipped_variants_check_clean(project_root: Path) -> None:
    for path in sorted((project_root / "criteria" / "local").rglob("*.kpi")):
        rules = kpi_rules.load(path)
        assert rules.plan.provenance.sources[-1].startswith(str(project_root / "criteria" / "nd335"))


def test_periods_and_cohorts_merge_and_a_cohort_can_be_removed(project_root: Path) -> None:
    national = parse_ruleset(SourceFile.read(project_root / "criteria" / "nd335" / "individual.kpi"))
    assert national.periods is not None and [c.name for c in national.cohorts] == ["excellent_quota"]
    child = _parse(_head("  remove cohort excellent_quota\n  periods {\n    monitor month\n    combine mean\n  }",
                         extends="nd335.individual"))
    merged = merge_rulesets(national, child)
    assert merged.cohorts == () and merged.periods is not None and merged.periods.monitor == "month"
    assert merge_rulesets(national, _parse(_head("", extends="nd335.individual"))).periods == national.periods
