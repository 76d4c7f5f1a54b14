"""The message catalogue: both languages complete and consistent, Vietnamese first."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

from kpi_rules.i18n import LANGUAGES, MessageError, catalogue, keys, message, placeholders

SRC = Path(__file__).resolve().parent.parent / "src" / "kpi_rules"
VIETNAMESE = re.compile(r"[àáảãạăắằẳẵặâấầẩẫậđèéẻẽẹêếềểễệìíỉĩịòóỏõọôốồổỗộơớờởỡợùúủũụưứừửữựỳýỷỹỵ]", re.I)


def test_catalogues_are_package_data() -> None:
    for lang in LANGUAGES:
        assert resources.files("kpi_rules").joinpath("messages", f"{lang}.yaml").is_file()


def test_every_key_is_in_both_languages() -> None:
    assert set(keys("vi")) == set(keys("en"))
    assert len(keys("vi")) > 50


@pytest.mark.parametrize("key", keys("vi"))
def test_same_placeholders_in_both_languages(key: str) -> None:
    assert placeholders(catalogue("vi")[key]) == placeholders(catalogue("en")[key]), key


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_renders_completely(lang: str) -> None:
    for key in keys(lang):
        params = {name: f"<{name}>" for name in placeholders(catalogue(lang)[key])}
        text = message(key, lang, **params)
        assert text.strip(), key
        assert "{" not in text and "}" not in text, (key, text)
        for name in params:
            assert f"<{name}>" in text, (key, name)


def test_vietnamese_is_the_default_and_has_diacritics() -> None:
    assert message("heading.total") == "Tổng điểm"
    assert message("heading.basis") == "Căn cứ"
    assert message("heading.total", "en") == "Total"
    assert message("heading.basis", "en") == "Legal basis"
    assert message("status.insufficient_data").startswith("Chưa đủ dữ liệu")
    # Nearly every Vietnamese sentence has a letter with a diacritic (a sample check of the whole
    # catalogue: ASCII-only Vietnamese would mean someone typed it without its marks).
    texts = [t for k, t in catalogue("vi").items() if not k.startswith("format.")]
    with_marks = [t for t in texts if VIETNAMESE.search(t)]
    assert len(with_marks) >= 0.9 * len(texts)
    assert not any(VIETNAMESE.search(t) for t in catalogue("en").values())


def test_band_phrases_are_as_the_decree_writes_them() -> None:
    assert message("band.from", lower="90") == "từ 90 điểm trở lên"
    assert message("band.from_below", lower="70", upper="90") == "từ 70 điểm đến dưới 90 điểm"
    assert message("band.below", upper="50") == "dưới 50 điểm"
    assert message("band.from", "en", lower="90") == "from 90 points up"
    assert message("band.from_below", "en", lower="70", upper="90") == "from 70 up to below 90 points"
    assert message("band.below", "en", upper="50") == "below 50 points"


def test_summary_line() -> None:
    assert message("summary.rated_rejected", rated=3, rejected=1) == "Đã xếp loại: 3; bị từ chối: 1"
    assert message("summary.rated_rejected", "en", rated=3, rejected=1) == "Rated: 3; rejected: 1"


def test_unknown_key_is_an_error() -> None:
    with pytest.raises(MessageError, match="unknown message key `nope.nothing`"):
        message("nope.nothing")


def test_missing_parameter_is_an_error() -> None:
    with pytest.raises(MessageError, match="missing upper"):
        message("band.from_below", lower="70")


def test_unexpected_parameter_is_an_error() -> None:
    with pytest.raises(MessageError, match="unexpected colour"):
        message("band.from", lower="90", colour="red")


def test_unknown_language_is_an_error() -> None:
    with pytest.raises(MessageError, match="unknown language `fr`"):
        message("heading.total", "fr")


def test_placeholders_are_named() -> None:
    assert placeholders("{a} and {b:>3} {{literal}}") == {"a", "b"}
    with pytest.raises(MessageError):
        placeholders("{0}")


def test_every_literal_key_used_in_the_source_exists() -> None:
    """Keys written literally in the code (``message("x.y", ...)``, ``ctx.msg("x.y")``)."""
    used: set[str] = set()
    pattern = re.compile(r"""\b(?:message|msg)\(\s*["']([a-z_]+(?:\.[a-z_"]+)+)["']""")
    for path in SRC.glob("*.py"):
        used.update(pattern.findall(path.read_text(encoding="utf-8")))
    assert used, "the pattern found no message keys"
    missing = sorted(used - set(keys("vi")))
    assert not missing, f"message keys used in the code but not in the catalogue: {missing}"
