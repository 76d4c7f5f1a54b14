"""The command line, end to end: exit codes, output, and no traceback for any user error."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kpi_rules.cli import main

ROOT = Path(__file__).resolve().parent.parent
RULES = str(ROOT / "criteria" / "nd335" / "individual.kpi")
RULES_YAML = str(ROOT / "criteria" / "nd335" / "individual.yaml")
EXAMPLE = str(ROOT / "examples" / "nd335_individual.json")
BAD = str(ROOT / "examples" / "nd335_individual_bad.json")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_check_accepts_both_forms(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", RULES, RULES_YAML)
    assert code == 0
    assert out.count("ok: ") == 2 and "nd335.individual 2026.1" in out


def test_check_reports_all_problems_with_positions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.kpi"
    text = Path(RULES).read_text(encoding="utf-8")
    text = text.replace("= general_i2", "= genral_i2").replace("max 2.5 = general_ii4", "max 3 = general_ii4")
    broken.write_text(text, encoding="utf-8")
    code, _, err = run(capsys, "check", str(broken))
    assert code == 1
    assert re.search(r"broken\.kpi:\d+:\d+: error\[KR301\]: .*genral_i2", err)
    assert "did you mean `general_i2`?" in err
    assert "error[KR304]" in err
    assert "Traceback" not in err


def test_evaluate_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "evaluate", RULES, EXAMPLE, "--format", "json")
    assert code == 0
    report = json.loads(out)
    by_id = {row["id"]: row for row in report["results"]}
    assert by_id["cc-001"]["total"]["display"] == "74.58"
    assert by_id["cc-001"]["level"]["id"] == "good"
    assert by_id["cc-003"]["level"]["id"] == "not_complete"
    assert by_id["cc-004"]["status"] == "insufficient_data"
    assert by_id["cc-006"]["total"]["exact"] == "90" and by_id["cc-006"]["level"]["id"] == "excellent"
    assert report["content_hash"].startswith("sha256:")


def test_evaluate_table_and_bad_records(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "evaluate", RULES, BAD, "--lang", "en")
    assert code == 1
    assert "cc-105" in out
    assert "record cc-101, field inputs.tasks[0].assigned" in err
    assert "Traceback" not in err


def test_explain_in_both_languages(capsys: pytest.CaptureFixture[str]) -> None:
    code, out_vi, _ = run(capsys, "explain", RULES, EXAMPLE, "--subject", "cc-001")
    assert code == 0 and "Hoàn thành tốt nhiệm vụ" in out_vi and "Điều 16 khoản 1" in out_vi
    code, out_en, _ = run(capsys, "explain", RULES, EXAMPLE, "--subject", "cc-001", "--lang", "en")
    assert code == 0 and "Good" in out_en
    code, _, err = run(capsys, "explain", RULES, EXAMPLE, "--subject", "nobody")
    assert code == 2


def test_fmt_check_and_rewrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "fmt", "--check", RULES)[0] == 0
    messy = tmp_path / "messy.kpi"
    messy.write_text(Path(RULES).read_text(encoding="utf-8").replace("  rates person", "rates    person"), encoding="utf-8")
    code, out, _ = run(capsys, "fmt", "--check", str(messy))
    assert code == 1 and "would reformat" in out
    assert run(capsys, "fmt", str(messy))[0] == 0
    assert messy.read_text(encoding="utf-8") == Path(RULES).read_text(encoding="utf-8")


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["evaluate", RULES])
    assert info.value.code == 2


def test_missing_file_is_a_finding_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "evaluate", RULES, "/nonexistent/records.json")
    assert code == 1 and "KR601" in err and "Traceback" not in err


def test_python_dash_m_entry_point() -> None:
    proc = subprocess.run([sys.executable, "-m", "kpi_rules", "check", RULES],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_readme_library_example_runs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert len(blocks) == 1 and len(blocks[0].strip().splitlines()) <= 12
    proc = subprocess.run([sys.executable, "-c", blocks[0]], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "cc-001 rated 4773/64 good" in proc.stdout


def test_readme_quickstart_has_exactly_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)```", quick, re.S)
    assert len(commands) == 2
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    test_command = commands[1].strip().replace("python3", "python")
    assert test_command in ci


def test_fmt_never_drops_a_comment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = Path(RULES).read_text(encoding="utf-8")
    kept = tmp_path / "kept.kpi"
    kept.write_text(text.replace("  record task_item", "  # Mỗi dòng là một sản phẩm.\n  record task_item"), encoding="utf-8")
    assert run(capsys, "fmt", "--check", str(kept))[0] == 0
    lost = tmp_path / "lost.kpi"
    lost_text = text.replace("    fallthrough highest_met", "    # giữ lại ghi chú này\n    fallthrough highest_met")
    lost.write_text(lost_text, encoding="utf-8")
    code, _, err = run(capsys, "fmt", str(lost))
    line = lost_text[: lost_text.index("# giữ lại")].count("\n") + 1
    assert code == 1 and f"comments on lines {line}" in err
    assert lost.read_text(encoding="utf-8") == lost_text


def test_a_catalogue_option_with_a_bundle_is_refused_not_ignored(capsys: pytest.CaptureFixture[str]) -> None:
    bundle = str(ROOT / "criteria" / "nd335" / "bundle.yaml")
    province = str(ROOT / "examples" / "province_small" / "province.yaml")
    catalogue = str(ROOT / "criteria" / "catalogues" / "sample.yaml")
    for command in (["evaluate", bundle, province], ["explain", bundle, province, "--subject", "p01"], ["check", bundle]):
        code, out, err = run(capsys, *command, "--catalogue", catalogue)
        assert code == 2 and "is a bundle" in err and out == ""


def test_readme_main_job_rates_the_province() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    first = re.findall(r"```sh\n(.*?)```", quick, re.S)[0].strip()
    install, job = first.split(" && ")
    assert install == "python3 -m pip install ."
    argv = job.split()
    assert argv[:3] == ["python3", "-m", "kpi_rules"]
    proc = subprocess.run([sys.executable, *argv[1:]], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "2026-Q4" in proc.stdout and "Counts per level" not in proc.stdout  # Vietnamese by default
    assert "Số lượng theo mức xếp loại" in proc.stdout
