"""Request validation: check each field, collect every problem, answer 422 with the list.

Hand-written on purpose: it is what the first lesson's exercise asks a student to write.
A `Field` says what one JSON field must be; `validate` checks a body against a dict of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.errors import FieldError, ValidationFailed


@dataclass(frozen=True)
class Field:
    """What one field of a JSON object must be.

    Args:
        kind: "str", "int" or "list".
        required: whether the field must be present.
        lo, hi: bounds on an int's value, or on a str's or list's length.
    """

    kind: str
    required: bool = True
    lo: int | None = None
    hi: int | None = None

    def check(self, value: Any) -> str | None:
        """What is wrong with `value`, or None if it fits."""
        if self.kind == "int":
            # bool is a subclass of int in Python; a JSON true is not a number.
            if not isinstance(value, int) or isinstance(value, bool):
                return "must be a whole number"
            size = value
            noun = ""
        elif self.kind == "str":
            if not isinstance(value, str):
                return "must be a string"
            size, noun = len(value), " characters"
        elif self.kind == "list":
            if not isinstance(value, list):
                return "must be a list"
            size, noun = len(value), " items"
        else:  # pragma: no cover - a schema bug, not a request problem
            raise ValueError(f"unknown field kind {self.kind}")
        if self.lo is not None and size < self.lo:
            return f"must be at least {self.lo}{noun}"
        if self.hi is not None and size > self.hi:
            return f"must be at most {self.hi}{noun}"
        return None


def validate(body: Any, schema: dict[str, Field], where: str = "") -> dict[str, Any]:
    """The body, if it fits `schema`; ValidationFailed listing every bad field otherwise.

    Unknown fields are reported too: a typo in a field name should not be silently ignored.
    """
    errors = problems(body, schema, where)
    if errors:
        raise ValidationFailed("Some fields are not valid.", details=errors)
    return dict(body)


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
    """An integer query parameter within bounds; ValidationFailed naming it otherwise."""
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed(
            "Some query parameters are not valid.",
            details=[FieldError(f"query.{name}", "must be a whole number")],
        ) from None
    if not lo <= value <= hi:
        raise ValidationFailed(
            "Some query parameters are not valid.",
            details=[FieldError(f"query.{name}", f"must be between {lo} and {hi}")],
        )
    return value
