"""Exact numbers: input conversion, rounding modes, display and exact text."""

from __future__ import annotations

import decimal
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpi_rules.values import format_exact, format_number, literal_value, round_fraction, to_fraction
from kpi_rules import nodes


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0, Fraction(0)),
        (12, Fraction(12)),
        (0.1, Fraction(1, 10)),
        (2.3, Fraction(23, 10)),
        (1e-7, Fraction(1, 10**7)),
        ("0.1", Fraction(1, 10)),
        (" 74.578125 ", Fraction("74.578125")),
        ("-2.5", Fraction(-5, 2)),
        ("1e3", Fraction(1000)),
        (".5", Fraction(1, 2)),
        (Decimal("0.30"), Fraction(3, 10)),
        (Fraction(2, 3), Fraction(2, 3)),
    ],
)
def test_to_fraction_reads_the_decimal_text(raw: object, expected: Fraction) -> None:
    assert to_fraction(raw) == expected
    assert isinstance(to_fraction(raw), Fraction)


def test_to_fraction_never_takes_the_binary_float() -> None:
    assert to_fraction(0.1) != Fraction(0.1)
    assert to_fraction(0.1) + to_fraction(0.2) == to_fraction(0.3)


@pytest.mark.parametrize("raw", [True, False, None, [1], {"a": 1}, object()])
def test_to_fraction_rejects_non_numbers(raw: object) -> None:
    with pytest.raises(TypeError):
        to_fraction(raw)


@pytest.mark.parametrize(
    "raw", [float("nan"), float("inf"), float("-inf"), "nan", "inf", "1/3", "1_000", "", "abc", "1.2.3", Decimal("NaN")]
)
def test_to_fraction_rejects_non_finite_and_bad_text(raw: object) -> None:
    with pytest.raises(ValueError):
        to_fraction(raw)


@pytest.mark.parametrize(
    ("x", "decimals", "mode", "expected"),
    [
        ("2.5", 0, "half_up", "3"),
        ("-2.5", 0, "half_up", "-3"),
        ("2.5", 0, "half_even", "2"),
        ("3.5", 0, "half_even", "4"),
        ("-2.5", 0, "half_even", "-2"),
        ("2.9", 0, "down", "2"),
        ("-2.9", 0, "down", "-2"),
        ("2.1", 0, "up", "3"),
        ("-2.1", 0, "up", "-3"),
        ("2.0", 0, "up", "2"),
        ("74.575", 2, "half_up", "74.58"),
        ("74.574999", 2, "half_up", "74.57"),
        ("74.565", 2, "half_even", "74.56"),
        ("74.575", 2, "half_even", "74.58"),
        ("89.999999", 2, "half_up", "90"),
        ("89.999999", 2, "down", "89.99"),
        ("1234.5", -1, "half_up", "1230"),
        ("1235", -1, "half_up", "1240"),
    ],
)
def test_round_fraction_modes(x: str, decimals: int, mode: nodes.RoundingMode, expected: str) -> None:
    assert round_fraction(Fraction(x), decimals, mode) == Fraction(expected)


def test_round_fraction_of_thirds() -> None:
    third = Fraction(1, 3)
    assert round_fraction(third, 2, "half_up") == Fraction("0.33")
    assert round_fraction(2 * third, 2, "down") == Fraction("0.66")
    assert round_fraction(2 * third, 2, "half_even") == Fraction("0.67")
    assert round_fraction(-2 * third, 2, "up") == Fraction("-0.67")


def test_round_fraction_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError):
        round_fraction(Fraction(1), 2, "ceiling")  # type: ignore[arg-type]


_DECIMAL_MODES = {
    "half_up": decimal.ROUND_HALF_UP,
    "half_even": decimal.ROUND_HALF_EVEN,
    "down": decimal.ROUND_DOWN,
    "up": decimal.ROUND_UP,
}


@given(
    st.decimals(min_value=-10**6, max_value=10**6, places=6, allow_nan=False, allow_infinity=False),
    st.integers(min_value=0, max_value=5),
    st.sampled_from(sorted(_DECIMAL_MODES)),
)
def test_round_fraction_agrees_with_decimal_quantize(x: Decimal, decimals: int, mode: str) -> None:
    expected = x.quantize(Decimal(1).scaleb(-decimals), rounding=_DECIMAL_MODES[mode],
                          context=decimal.Context(prec=50))
    assert round_fraction(Fraction(x), decimals, mode) == Fraction(expected)  # type: ignore[arg-type]
    text = format(abs(expected), f".{decimals}f")
    assert format_number(Fraction(x), decimals, mode) == ("-" + text if expected < 0 else text)  # type: ignore[arg-type]


@given(st.fractions(max_denominator=10**6), st.integers(min_value=0, max_value=6))
def test_rounding_stays_within_one_unit(x: Fraction, decimals: int) -> None:
    unit = Fraction(1, 10**decimals)
    down = round_fraction(x, decimals, "down")
    up = round_fraction(x, decimals, "up")
    assert abs(x - down) < unit and abs(up - x) < unit
    assert abs(down) <= abs(x) <= abs(up)
    half = round_fraction(x, decimals, "half_up")
    assert abs(half - x) <= unit / 2


@pytest.mark.parametrize(
    ("x", "decimals", "expected"),
    [
        (Fraction("74.578125"), 2, "74.58"),
        (Fraction(75), 2, "75.00"),
        (Fraction(1, 3), 2, "0.33"),
        (Fraction(2, 3), 0, "1"),
        (Fraction("-1.005"), 2, "-1.01"),
        (Fraction("-0.001"), 2, "0.00"),
        (Fraction("89.999999"), 2, "90.00"),
        (Fraction("0.5"), 4, "0.5000"),
    ],
)
def test_format_number(x: Fraction, decimals: int, expected: str) -> None:
    assert format_number(x, decimals, "half_up") == expected


def test_format_number_uses_the_mode() -> None:
    assert format_number(Fraction("2.345"), 2, "half_even") == "2.34"
    assert format_number(Fraction("2.345"), 2, "down") == "2.34"
    assert format_number(Fraction("2.341"), 2, "up") == "2.35"


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (Fraction(75), "75"),
        (Fraction(-3), "-3"),
        (Fraction(1523, 32), "47.59375"),
        (Fraction(4773, 64), "74.578125"),
        (Fraction(2983, 40), "74.575"),
        (Fraction(-1, 8), "-0.125"),
        (Fraction(2, 3), "2/3"),
        (Fraction(-1, 30), "-1/30"),
    ],
)
def test_format_exact(x: Fraction, expected: str) -> None:
    assert format_exact(x) == expected


@given(st.fractions(max_denominator=10**4))
def test_format_exact_round_trips(x: Fraction) -> None:
    assert Fraction(format_exact(x)) == x


def test_literal_values() -> None:
    assert literal_value(nodes.PercentLit(Fraction(25))) == Fraction(1, 4)
    assert literal_value(nodes.NumberLit(Fraction("2.5"))) == Fraction(5, 2)
    assert literal_value(nodes.StringLit("VB-HC")) == "VB-HC"
    assert literal_value(nodes.BoolLit(True)) is True
