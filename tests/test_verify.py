"""``kpi_rules.verify`` and ``kpi-rules verify``: proofs and properties, with shrunk counterexamples."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from kpi_rules.cli import main
from kpi_rules.parser import parse_ruleset
from kpi_rules.source import SourceFile
from kpi_rules.verify import PropertyResult, VerifyReport, band_coverage, verify_file

from plan_helpers import INDIVIDUAL

EXAMPLES = 25

HEAD = """ruleset test.verify "Thử" {
  basis "test"
  version "1"
  in_force from 2026-01-01
  rates person
  subject person "Công chức" {
    input score : points min 0 max 100 increasing "Điểm"
    input mentor : bool default false increasing "Có kèm cặp"
    input warned : bool default false decreasing "Bị nhắc nhở"
    input discipline : one_of(none, reprimand, warning) default "none" decreasing "Kỷ luật"
  }
"""

TREE = """  criteria total "Tổng" max 100 {
    criterion main "Chính" max 100 = score
  }
"""

RATING = """  rating {
    level excellent "Xuất sắc" from 90
    level good "Tốt" from 50 below 90
    level weak "Yếu" below 50
    disqualify reminded "Bị nhắc nhở" when warned
  }
"""


def write(tmp_path: Path, body: str, name: str = "rules.kpi") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def prop(report: VerifyReport, name: str) -> PropertyResult:
    return next(p for p in report.properties if p.name == name)


def test_the_national_rule_set_verifies() -> None:
    report = verify_file(INDIVIDUAL, examples=EXAMPLES)
    assert report.ok, report.render()
    assert prop(report, "bands").status == "proved"
    assert "[70, 90) good" in prop(report, "bands").detail
    assert prop(report, "twin").status == "passed"  # individual.yaml agrees
    assert prop(report, "monotone").status == "passed"
    assert prop(report, "order").status == "passed"
    assert prop(report, "boundaries").status == "passed"
    assert prop(report, "within-max").status == "passed"


def test_a_sound_small_rule_set_verifies(tmp_path: Path) -> None:
    report = verify_file(write(tmp_path, HEAD + TREE + RATING + "}\n"), examples=EXAMPLES)
    assert report.ok, report.render()
    assert prop(report, "twin").status == "proved"  # no twin file: both forms round-trip


def test_a_gap_between_bands_is_found_statically() -> None:
    text = HEAD + TREE + RATING.replace('from 50 below 90', 'from 60 below 90') + "}\n"
    result = band_coverage(parse_ruleset(SourceFile("gap.kpi", text)))
    assert result.status == "failed"
    assert result.detail == "a total of 50 has no level"
    assert result.counterexample is not None and result.counterexample.records == ({"total": 50},)


def test_overlapping_bands_are_found_statically() -> None:
    text = HEAD + TREE + RATING.replace('from 50 below 90', 'from 40 below 95') + "}\n"
    result = band_coverage(parse_ruleset(SourceFile("overlap.kpi", text)))
    assert result.status == "failed" and "`good` and `weak`" in result.detail


def test_a_file_that_does_not_load_fails_and_still_gets_the_band_proof(tmp_path: Path) -> None:
    text = HEAD + TREE + RATING.replace('from 50 below 90', 'from 60 below 90') + "}\n"
    report = verify_file(write(tmp_path, text), examples=EXAMPLES)
    assert not report.ok
    assert prop(report, "loads").status == "failed" and "KR305" in prop(report, "loads").detail
    assert prop(report, "bands").status == "failed"


def test_a_condition_that_sends_higher_scores_lower_breaks_monotonicity(tmp_path: Path) -> None:
    rating = RATING.replace('level excellent "Xuất sắc" from 90', """level excellent "Xuất sắc" from 90 {
      require mentored "Có kèm cặp" = mentor
    }""").replace("    disqualify", "    fallthrough lowest\n    disqualify")
    report = verify_file(write(tmp_path, HEAD + TREE + rating + "}\n"), examples=60)
    result = prop(report, "monotone")
    assert result.status == "failed"
    assert result.detail.endswith("to 90 (declared increasing) lowered the level from good to weak")
    assert result.counterexample is not None
    before, after = result.counterexample.records
    assert 50 <= before["inputs"]["score"] < 90 and after["inputs"]["score"] == 90  # shrunk to the band edge
    assert "Xếp loại: Yếu" in result.counterexample.explanations[1]


def test_an_input_declared_increasing_that_lowers_the_score(tmp_path: Path) -> None:
    tree = TREE.replace("= score", "= 100 - score")
    report = verify_file(write(tmp_path, HEAD + tree + RATING + "}\n"), examples=EXAMPLES)
    result = prop(report, "monotone")
    assert result.status == "failed" and "(declared increasing) lowered the" in result.detail


def test_a_disqualifier_that_improves_a_low_score(tmp_path: Path) -> None:
    rating = RATING.replace("when warned", "when warned to good")
    report = verify_file(write(tmp_path, HEAD + TREE + rating + "}\n"), examples=EXAMPLES)
    result = prop(report, "disqualifiers")
    assert result.status == "failed"
    assert result.detail == ("the disqualifier `reminded` raised the level from weak (what the score alone gives) "
                             "to good")
    assert result.counterexample is not None
    assert result.counterexample.records[0]["inputs"]["score"] == 0


def test_the_first_disqualifier_must_not_shadow_a_harsher_one(tmp_path: Path) -> None:
    rating = RATING.replace("when warned", 'when warned and score >= 50 to good\n    disqualify disciplined '
                            '"Kỷ luật" when discipline >= "reprimand"')
    report = verify_file(write(tmp_path, HEAD + TREE + rating + "}\n"), examples=EXAMPLES)
    result = prop(report, "disqualifiers")
    assert result.status == "failed" and "not the harshest target weak" in result.detail


def test_a_division_by_zero_is_an_evaluation_failure(tmp_path: Path) -> None:
    tree = TREE.replace("= score", "= 100 / (score - 50)")
    report = verify_file(write(tmp_path, HEAD + tree + RATING + "}\n"), examples=EXAMPLES)
    result = prop(report, "evaluates")
    assert result.status == "failed" and "KR506" in result.detail
    assert result.counterexample is not None and result.counterexample.records[0]["inputs"]["score"] == 50


def test_a_formula_above_its_maximum_is_a_warning(tmp_path: Path) -> None:
    tree = TREE.replace("= score", "= score * 2")
    report = verify_file(write(tmp_path, HEAD + tree + RATING + "}\n"), examples=EXAMPLES)
    result = prop(report, "within-max")
    assert result.status == "warning" and "above its max 100" in result.detail
    assert report.ok  # a warning is not a failure


def test_a_yaml_twin_that_disagrees(tmp_path: Path) -> None:
    from kpi_rules.yaml_form import dump_yaml_ruleset

    text = HEAD + TREE + RATING + "}\n"
    path = write(tmp_path, text)
    twin = dump_yaml_ruleset(parse_ruleset(SourceFile("x.kpi", text.replace("from 90", "from 85")
                                                      .replace("below 90", "below 85"))))
    write(tmp_path, twin, "rules.yaml")
    report = verify_file(path, examples=EXAMPLES)
    result = prop(report, "twin")
    assert result.status == "failed"
    assert "rating.levels[excellent].lower: Fraction(90, 1) vs Fraction(85, 1)" in result.detail


def test_verify_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="examples"):
        verify_file(INDIVIDUAL, examples=0)
    with pytest.raises(ValueError, match="lang"):
        verify_file(INDIVIDUAL, lang="fr")


def test_a_seed_gives_a_reproducible_run(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + TREE + RATING + "}\n")
    first = verify_file(path, examples=10, seed=7)
    assert first.render() == verify_file(path, examples=10, seed=7).render()


# ------------------------------------------------------------------------------- the command line


def test_cli_verify_passes_on_the_national_rule_set(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(INDIVIDUAL), "--examples", "20"]) == 0
    out = capsys.readouterr().out
    assert "proved   bands:" in out and "all properties hold" in out


def test_cli_verify_prints_the_failed_property_counterexample_and_explanation(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rating = RATING.replace("when warned", "when warned to good")
    path = write(tmp_path, HEAD + TREE + rating + "}\n")
    assert main(["verify", str(path), "--examples", str(EXAMPLES), "--lang", "en"]) == 1
    out = capsys.readouterr().out
    assert "FAILED   disqualifiers: the disqualifier `reminded` raised the level" in out
    after = out.split("FAILED   disqualifiers", 1)[1]
    record = next(line for line in after.splitlines() if line.strip().startswith('{"id"'))
    assert json.loads(record)["inputs"]["warned"] is True
    assert "explanation:" in out and "Bị nhắc nhở" in out
    assert out.rstrip().endswith("2 properties failed")  # `warned` is also declared decreasing


def test_cli_verify_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["verify", str(INDIVIDUAL), "--examples", "0"])
    assert info.value.code == 2
    assert main(["verify", "no/such/file.kpi"]) == 2


def test_order_property_runs() -> None:
    report = verify_file(INDIVIDUAL, examples=10, boundaries=False)
    assert prop(report, "order").status == "passed" and prop(report, "order").examples == 10
    assert Fraction(1) == 1
