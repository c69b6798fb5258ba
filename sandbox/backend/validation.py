"""Request validation: check each field, collect every problem, answer 422 with the list.

Hand-written on purpose: it is what the first lesson's exercise asks a student to write.
A `Field` says what one JSON field must be; `validate` checks a body against a dict of them.
The same Fields build the OpenAPI document (sandbox/backend/openapi.py), so what is checked
here is exactly what is published there, in JSON Schema's terms:

- an integer is a number with no fractional part: `3` and `3.0` are the same integer (both
  are read as 3); `3.5`, `true` and `"3"` are not integers;
- a string's length counts characters (code points), as `minLength`/`maxLength` do;
- a pattern must match the whole string, as the published `^...$` does.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from sandbox.errors import FieldError, ValidationFailed

# A JSON parser reads `4611686018427387903.0` as the nearest double, 4611686018427387904: a
# different id. Up to 2**53 every whole double is exactly the integer the client wrote, so an
# integral float is accepted only up to there; bigger integers must be written as integers.
MAX_EXACT_FLOAT = 2**53

# What a query parameter's integer looks like on the wire: ASCII digits with an optional
# sign. Python's int() would also take " 5", "1_000" and non-ASCII digits such as "٣".
QUERY_INT = re.compile(r"[+-]?[0-9]+")
QUERY_INT_MAX_DIGITS = 30  # longer is out of any range here; int() of huge text is slow


def whole_number(value: Any) -> int | None:
    """`value` as an int if it is a JSON integer (3 or 3.0), else None.

    A bool is not one (in Python it is an int subclass; JSON's true is not a number), nor a
    fraction, NaN or infinity.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


@dataclass(frozen=True)
class Field:
    """What one field of a JSON object must be.

    Args:
        kind: "str", "int" or "list".
        required: whether the field must be present.
        lo, hi: bounds on an int's value, or on a str's or list's length.
        pattern: for a str, a regular expression the whole string must match (published in
            the OpenAPI document as `^pattern$`); keep to syntax that Python and ECMA-262
            (JSON Schema's dialect) read alike: explicit characters, no `\\s` or `\\d`.
        explain: for a str with a pattern, what the pattern asks, for the error message.
    """

    kind: str
    required: bool = True
    lo: int | None = None
    hi: int | None = None
    pattern: str | None = None
    explain: str = "must match the published pattern"

    def check(self, value: Any) -> str | None:
        """What is wrong with `value`, or None if it fits."""
        return self.parse(value)[1]

    def parse(self, value: Any) -> tuple[Any, str | None]:
        """`value` as the app uses it (an int field's 3.0 becomes 3), and what is wrong with
        it: None if it fits."""
        if self.kind == "int":
            number = whole_number(value)
            if number is None:
                return value, "must be a whole number"
            size, noun = number, ""
        elif self.kind == "str":
            if not isinstance(value, str):
                return value, "must be a string"
            size, noun = len(value), " characters"
        elif self.kind == "list":
            if not isinstance(value, list):
                return value, "must be a list"
            size, noun = len(value), " items"
        else:  # pragma: no cover - a schema bug, not a request problem
            raise ValueError(f"unknown field kind {self.kind}")
        if self.lo is not None and size < self.lo:
            return value, f"must be at least {self.lo}{noun}"
        if self.hi is not None and size > self.hi:
            return value, f"must be at most {self.hi}{noun}"
        if self.kind == "int":
            if isinstance(value, float) and abs(value) > MAX_EXACT_FLOAT:
                return value, (f"must be written without a decimal point or exponent above "
                               f"{MAX_EXACT_FLOAT}")
            return size, None
        if self.pattern is not None and re.fullmatch(self.pattern, value) is None:
            return value, self.explain
        return value, None


def validate(body: Any, schema: dict[str, Field], where: str = "") -> dict[str, Any]:
    """The body as the app uses it (see `conform`), if it fits `schema`; ValidationFailed
    listing every bad field otherwise.

    Unknown fields are reported too: a typo in a field name should not be silently ignored.
    """
    errors = problems(body, schema, where)
    if errors:
        raise ValidationFailed("Some fields are not valid.", details=errors)
    return _conformed(body, schema)


def conform(body: Any, schema: dict[str, Field]) -> Any:
    """A copy of an object `body` with each valid field as the app uses it: an int field's
    3.0 becomes 3. Anything else (an invalid field, an unknown one, a body that is not an
    object) is left as it is."""
    return _conformed(body, schema) if isinstance(body, dict) else body


def _conformed(body: dict[str, Any], schema: dict[str, Field]) -> dict[str, Any]:
    out = dict(body)
    for name, spec in schema.items():
        if name in out:
            value, problem = spec.parse(out[name])
            if problem is None:
                out[name] = value
    return out


def problems(body: Any, schema: dict[str, Field], where: str = "") -> list[FieldError]:
    """Every problem with `body` against `schema`, each naming its field."""
    if not isinstance(body, dict):
        return [FieldError(where or "body", "must be a JSON object")]
    errors: list[FieldError] = []
    for name, spec in schema.items():
        path = f"{where}.{name}" if where else name
        if name not in body:
            if spec.required:
                errors.append(FieldError(path, "is required"))
            continue
        message = spec.check(body[name])
        if message:
            errors.append(FieldError(path, message))
    for name in body:
        if name not in schema:
            errors.append(FieldError(f"{where}.{name}" if where else str(name), "is not a known field"))
    return errors


def query_int(params: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    """An integer query parameter within bounds; ValidationFailed naming it otherwise.

    On the wire an integer is its decimal digits, optionally signed: `20`, not ` 20`, `2_0`,
    `٢٠` or `20.0` (a query value is text, and the published `type: integer` is read from the
    text the way OpenAPI tools do). The value may be `20`, `+20` or `020`.
    """
    raw = params.get(name)
    if raw is None:
        return default
    if QUERY_INT.fullmatch(raw) is None:
        raise ValidationFailed(
            "Some query parameters are not valid.",
            details=[FieldError(f"query.{name}", "must be a whole number")],
        )
    digits = raw.lstrip("+-").lstrip("0")
    value = int(raw) if len(digits) <= QUERY_INT_MAX_DIGITS else hi + 1
    if not lo <= value <= hi:
        raise ValidationFailed(
            "Some query parameters are not valid.",
            details=[FieldError(f"query.{name}", f"must be between {lo} and {hi}")],
        )
    return value
