"""Text/YAML twins: equal rule sets must give equal results and explanations on the same records."""

from __future__ import annotations

from pathlib import Path

import pytest

import kpi_rules

ROOT = Path(__file__).resolve().parent.parent
TWINS = sorted(p for p in (ROOT / "criteria").rglob("*.kpi") if p.with_suffix(".yaml").exists())
EXAMPLES = {"individual.kpi": ROOT / "examples" / "nd335_individual.json"}


@pytest.mark.parametrize("kpi", TWINS, ids=lambda p: str(p.relative_to(ROOT)))
def test_twins_rate_every_example_identically(kpi: Path) -> None:
    example = EXAMPLES.get(kpi.name)
    if example is None:
        pytest.skip(f"no example records for {kpi.name}")
    text_rules = kpi_rules.load(kpi)
    yaml_rules = kpi_rules.load(kpi.with_suffix(".yaml"))
    assert text_rules.plan.ruleset == yaml_rules.plan.ruleset
    records = kpi_rules.read_records(example)
    from_text = text_rules.evaluate_many(records)
    from_yaml = yaml_rules.evaluate_many(records)
    assert len(from_text.results) == len(records)
    for a, b in zip(from_text.results, from_yaml.results, strict=True):
        # Provenance differs (different files); everything rated must be identical.
        assert (a.subject_id, a.status, a.total, a.criteria, a.decision, dict(a.values)) == (
            b.subject_id, b.status, b.total, b.criteria, b.decision, dict(b.values),
        )
    for raw in records:
        for lang in ("vi", "en"):
            # Source locations point into different files; everything else must be equal.
            exclude = {"provenance": True, "insufficient": {"where"}}
            left = text_rules.explain(raw, lang).model_dump(exclude=exclude)
            right = yaml_rules.explain(raw, lang).model_dump(exclude=exclude)
            assert left == right


def test_provenance_names_the_rule_file_content() -> None:
    text_rules = kpi_rules.load(ROOT / "criteria" / "nd335" / "individual.kpi")
    yaml_rules = kpi_rules.load(ROOT / "criteria" / "nd335" / "individual.yaml")
    assert (text_rules.id, text_rules.version) == ("nd335.individual", "2026.1")
    assert text_rules.content_hash.startswith("sha256:") and len(text_rules.content_hash) == 71
    assert text_rules.content_hash != yaml_rules.content_hash
    assert kpi_rules.loads(
        (ROOT / "criteria" / "nd335" / "individual.kpi").read_text(encoding="utf-8"), "x.kpi"
    ).content_hash == text_rules.content_hash
