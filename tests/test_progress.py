"""Long runs draw a progress bar on a terminal only, and never with --quiet."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from kpi_rules import load
from kpi_rules.bundle import load_bundle
from kpi_rules.cli import main
from kpi_rules.engine import read_records
from kpi_rules.org import load_province
from kpi_rules.progress import progress_bar, shows_progress
from kpi_rules.province import evaluate_province

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "criteria" / "nd335" / "individual.kpi"
GOOD = ROOT / "examples" / "nd335_individual.json"
BAD = ROOT / "examples" / "nd335_individual_bad.json"
BUNDLE = ROOT / "examples" / "province" / "bundle.yaml"
SMALL_PROVINCE = ROOT / "examples" / "province_small" / "province.yaml"


def _console(terminal: bool) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=terminal, width=100), buffer


def test_bar_is_drawn_on_a_terminal_and_counts_to_the_total() -> None:
    console, buffer = _console(terminal=True)
    with progress_bar(console, "Đang đánh giá, xếp loại", 7) as advance:
        for _ in range(7):
            advance(1)
    drawn = buffer.getvalue()
    assert "Đang đánh giá, xếp loại" in drawn
    assert "7/7" in drawn


@pytest.mark.parametrize(("terminal", "quiet"), [(False, False), (True, True), (False, True)])
def test_nothing_is_drawn_off_a_terminal_or_when_quiet(terminal: bool, quiet: bool) -> None:
    console, buffer = _console(terminal)
    assert shows_progress(console, quiet) is False
    with progress_bar(console, "label", 3, quiet=quiet) as advance:
        advance(3)
    assert buffer.getvalue() == ""


def test_evaluate_many_reports_every_record_once_rejected_ones_included() -> None:
    rules = load(RULES)
    for path in (GOOD, BAD):
        raws = read_records(str(path))
        done: list[int] = []
        outcome = rules.evaluate_many(raws, progress=done.append)
        assert sum(done) == len(raws)
        assert len(outcome.results) + len(set(outcome.rejected_ids)) == len(raws)


def test_province_run_reports_every_record() -> None:
    data = load_province(SMALL_PROVINCE)
    done: list[int] = []
    evaluate_province(load_bundle(BUNDLE), data, progress=done.append)
    assert sum(done) == len(data.records) > 0


@pytest.mark.parametrize("argv", [
    ["evaluate", str(RULES), str(GOOD)],
    ["evaluate", str(BUNDLE), str(SMALL_PROVINCE)],
])
def test_cli_draws_the_bar_only_on_a_terminal_without_quiet(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    main(argv)  # captured output is not a terminal
    assert "Đang đánh giá" not in capsys.readouterr().err

    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich then treats the streams as a terminal
    main(argv)
    assert "Đang đánh giá, xếp loại" in capsys.readouterr().err
    main([*argv, "--quiet"])
    assert "Đang đánh giá" not in capsys.readouterr().err


def test_report_draws_the_bar_only_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    assert main(["report", str(RULES), str(GOOD), "--out", str(tmp_path / "a")]) == 0
    assert "Đang ghi báo cáo" in capsys.readouterr().err
    assert main(["report", str(RULES), str(GOOD), "--out", str(tmp_path / "b"), "-q"]) == 0
    assert "Đang ghi báo cáo" not in capsys.readouterr().err
