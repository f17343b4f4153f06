"""MathAPI: stateless arithmetic, statistics and unit conversions, as BFCL v3 answers them.

Results keep BFCL's types where they show in the text the model reads: `logarithm` answers
an mpmath number and `square_root` a Decimal (their reprs appear in the result string).
"""

from __future__ import annotations

import math
from decimal import Context, Decimal, InvalidOperation
from typing import Any

_TO_METERS = {"km": 1000, "m": 1, "cm": 0.01, "mm": 0.001, "um": 1e-06, "nm": 1e-09}
_IMPERIAL = {
    "cm_to_in": 0.393701,
    "in_to_cm": 2.54,
    "m_to_ft": 3.28084,
    "ft_to_m": 0.3048,
    "m_to_yd": 1.09361,
    "yd_to_m": 0.9144,
    "km_to_miles": 0.621371,
    "miles_to_km": 1.60934,
    "kg_to_lb": 2.20462,
    "lb_to_kg": 0.453592,
    "celsius_to_fahrenheit": 1.8,
    "fahrenheit_to_celsius": 5 / 9,
}


class _Shown:
    """A value whose repr was fixed when it was computed (mpmath's repr depends on a global precision)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


# Hostile-input bounds (BFCL's own MathAPI runs these forever): an integer power beyond this
# many bits, a precision beyond this many digits, is an error the model sees, not a hang.
_MAX_POWER_BITS = 1 << 16
_MAX_PRECISION = 10_000


def _too_big_power(base: Any, exponent: Any) -> bool:
    if not (isinstance(base, int) and isinstance(exponent, int)) or abs(base) < 2 or exponent <= 0:
        return False
    return exponent * abs(base).bit_length() > _MAX_POWER_BITS


def _bad_precision(precision: Any) -> bool:
    return isinstance(precision, int) and abs(precision) > _MAX_PRECISION


def _numbers_op(numbers: list[Any], empty: str, op: Any) -> dict[str, object]:
    if not numbers:
        return {"error": empty}
    try:
        return {"result": op(numbers)}
    except TypeError:
        return {"error": "All elements in the list must be numbers"}


class MathAPI:
    def logarithm(self, value: float, base: float, precision: int) -> dict[str, object]:
        import mpmath

        if _bad_precision(precision):
            return {"error": f"precision beyond {_MAX_PRECISION} digits"}
        try:
            with mpmath.workdps(precision):
                result = mpmath.log(value) / mpmath.log(base)
                return {"result": _Shown(repr(result))}
        except Exception as e:  # mpmath's own message, as BFCL passes it on
            return {"error": str(e)}

    def mean(self, numbers: list[float]) -> dict[str, object]:
        return _numbers_op(numbers, "Cannot calculate mean of an empty list", lambda xs: sum(xs) / len(xs))

    def standard_deviation(self, numbers: list[float]) -> dict[str, object]:
        def sd(xs: list[float]) -> float:
            m = sum(xs) / len(xs)
            return math.sqrt(sum((x - m) ** 2 for x in xs) / len(xs))

        return _numbers_op(numbers, "Cannot calculate standard deviation of an empty list", sd)

    def si_unit_conversion(self, value: float, unit_in: str, unit_out: str) -> dict[str, object]:
        if not isinstance(value, int | float):
            return {"error": "Value must be a number"}
        if unit_in not in _TO_METERS or unit_out not in _TO_METERS:
            return {"error": f"Conversion from '{unit_in}' to '{unit_out}' is not supported"}
        try:
            return {"result": value * _TO_METERS[unit_in] * (1 / _TO_METERS[unit_out])}
        except OverflowError:
            return {"error": "Conversion resulted in a value too large to represent"}

    def imperial_si_conversion(self, value: float, unit_in: str, unit_out: str) -> dict[str, object]:
        if not isinstance(value, int | float):
            return {"error": "Value must be a number"}
        if unit_in == unit_out:
            return {"result": value}
        key = f"{unit_in}_to_{unit_out}"
        if key not in _IMPERIAL:
            return {"error": f"Conversion from '{unit_in}' to '{unit_out}' is not supported"}
        try:
            if key == "celsius_to_fahrenheit":
                return {"result": value * _IMPERIAL[key] + 32}
            if key == "fahrenheit_to_celsius":
                return {"result": (value - 32) * _IMPERIAL[key]}
            return {"result": value * _IMPERIAL[key]}
        except OverflowError:
            return {"error": "Conversion resulted in a value too large to represent"}

    def add(self, a: float, b: float) -> dict[str, object]:
        try:
            return {"result": a + b}
        except TypeError:
            return {"error": "Both inputs must be numbers"}

    def subtract(self, a: float, b: float) -> dict[str, object]:
        try:
            return {"result": a - b}
        except TypeError:
            return {"error": "Both inputs must be numbers"}

    def multiply(self, a: float, b: float) -> dict[str, object]:
        if not isinstance(a, int | float) or not isinstance(b, int | float):
            return {"error": "Both inputs must be numbers"}
        return {"result": a * b}

    def divide(self, a: float, b: float) -> dict[str, object]:
        try:
            if b == 0:
                return {"error": "Cannot divide by zero"}
            return {"result": a / b}
        except TypeError:
            return {"error": "Both inputs must be numbers"}

    def power(self, base: float, exponent: float) -> dict[str, object]:
        if _too_big_power(base, exponent):
            return {"error": "result too large to compute"}
        try:
            return {"result": base**exponent}
        except TypeError:
            return {"error": "Both inputs must be numbers"}

    def square_root(self, number: float, precision: int) -> dict[str, object]:
        if _bad_precision(precision):
            return {"error": f"precision beyond {_MAX_PRECISION} digits"}
        try:
            if number < 0:
                return {"error": "Cannot calculate square root of a negative number"}
            context = Context()
            context.prec = precision  # set as BFCL sets it, so None or 1.5 fail with TypeError
            return {"result": context.sqrt(Decimal(number))}
        except (TypeError, InvalidOperation):
            return {"error": "Input must be a number or computation resulted in an invalid operation"}

    def absolute_value(self, number: float) -> dict[str, object]:
        try:
            return {"result": abs(number)}
        except TypeError:
            return {"error": "Input must be a number"}

    def round_number(self, number: float, decimal_places: int = 0) -> dict[str, object]:
        try:
            return {"result": round(number, decimal_places)}
        except TypeError:
            return {"error": "First input must be a number, second input must be an integer"}

    def percentage(self, part: float, whole: float) -> dict[str, object]:
        try:
            if whole == 0:
                return {"error": "Whole value cannot be zero"}
            return {"result": part / whole * 100}
        except TypeError:
            return {"error": "Both inputs must be numbers"}

    def min_value(self, numbers: list[float]) -> dict[str, object]:
        return _numbers_op(numbers, "Cannot find minimum of an empty list", min)

    def max_value(self, numbers: list[float]) -> dict[str, object]:
        return _numbers_op(numbers, "Cannot find maximum of an empty list", max)

    def sum_values(self, numbers: list[float]) -> dict[str, object]:
        return _numbers_op(numbers, "Cannot calculate sum of an empty list", sum)
