from __future__ import annotations

from typing import Any

import pytest

from sandbox.backend.validation import Field, problems, query_int, validate
from sandbox.errors import ValidationFailed


@pytest.mark.parametrize("value", [0, -5, 10**12])
def test_int_accepts_whole_numbers(value: int) -> None:
    assert Field("int").check(value) is None


@pytest.mark.parametrize("value", [True, False, 1.5, float("nan"), float("inf"), "1", None, [1]])
def test_int_rejects_bools_and_non_ints(value: Any) -> None:
    assert Field("int").check(value) == "must be a whole number"


@pytest.mark.parametrize("value", [1.0, -0.0, 2.0**53])
def test_int_takes_integral_floats_as_json_schema_does(value: float) -> None:
    assert Field("int").parse(value) == (int(value), None)
    assert type(Field("int").parse(value)[0]) is int


def test_validate_returns_integral_floats_as_ints() -> None:
    assert validate({"email": "a@b.c", "qty": 2.0}, SCHEMA) == {"email": "a@b.c", "qty": 2}
    assert type(validate({"email": "a@b.c", "qty": 2.0}, SCHEMA)["qty"]) is int


def test_str_pattern_must_match_the_whole_string() -> None:
    f = Field("str", pattern=r"[a-z]+", explain="must be lower-case letters")
    assert f.check("abc") is None
    for bad in ("abc\n", "Abc", "ab1", ""):
        assert f.check(bad) == "must be lower-case letters"


def test_int_bounds() -> None:
    f = Field("int", lo=1, hi=10)
    assert f.check(1) is None
    assert f.check(10) is None
    assert f.check(0) == "must be at least 1"
    assert f.check(11) == "must be at most 10"


def test_str_length_bounds() -> None:
    f = Field("str", lo=2, hi=4)
    assert f.check("ab") is None
    assert f.check("abcd") is None
    assert f.check("a") == "must be at least 2 characters"
    assert f.check("abcde") == "must be at most 4 characters"
    assert f.check(12) == "must be a string"
    assert Field("str").check("") is None


def test_list_length_bounds() -> None:
    f = Field("list", lo=1, hi=2)
    assert f.check([1]) is None
    assert f.check([1, 2]) is None
    assert f.check([]) == "must be at least 1 items"
    assert f.check([1, 2, 3]) == "must be at most 2 items"
    assert f.check((1,)) == "must be a list"
    assert f.check("ab") == "must be a list"


SCHEMA = {
    "email": Field("str", lo=3, hi=100),
    "qty": Field("int", lo=1, hi=99),
    "tags": Field("list", required=False, hi=3),
}


def test_validate_returns_copy_of_valid_body() -> None:
    body = {"email": "a@b.c", "qty": 2}
    result = validate(body, SCHEMA)
    assert result == body
    assert result is not body


def test_optional_field_may_be_missing_but_is_checked_when_present() -> None:
    assert problems({"email": "a@b.c", "qty": 1}, SCHEMA) == []
    errs = problems({"email": "a@b.c", "qty": 1, "tags": [1, 2, 3, 4]}, SCHEMA)
    assert [e.as_dict() for e in errs] == [{"field": "tags", "message": "must be at most 3 items"}]


def test_validate_collects_every_problem() -> None:
    body = {"email": "x", "qty": True, "colour": "red", "size": 3}
    with pytest.raises(ValidationFailed) as info:
        validate(body, SCHEMA)
    err = info.value
    assert err.status == 422
    assert [d.as_dict() for d in err.details] == [
        {"field": "email", "message": "must be at least 3 characters"},
        {"field": "qty", "message": "must be a whole number"},
        {"field": "colour", "message": "is not a known field"},
        {"field": "size", "message": "is not a known field"},
    ]


def test_missing_required_fields_reported() -> None:
    errs = problems({}, SCHEMA)
    assert [e.as_dict() for e in errs] == [
        {"field": "email", "message": "is required"},
        {"field": "qty", "message": "is required"},
    ]


def test_where_prefixes_field_paths() -> None:
    errs = problems({"qty": 0, "extra": 1}, SCHEMA, where="items[0]")
    assert [e.as_dict() for e in errs] == [
        {"field": "items[0].email", "message": "is required"},
        {"field": "items[0].qty", "message": "must be at least 1"},
        {"field": "items[0].extra", "message": "is not a known field"},
    ]


@pytest.mark.parametrize("body", [[], "text", 3, None, [{"email": "a@b.c"}]])
def test_non_object_body(body: Any) -> None:
    with pytest.raises(ValidationFailed) as info:
        validate(body, SCHEMA)
    assert [d.as_dict() for d in info.value.details] == [
        {"field": "body", "message": "must be a JSON object"}
    ]
    assert [e.field for e in problems(body, SCHEMA, where="items[2]")] == ["items[2]"]


def test_query_int_default_and_value() -> None:
    assert query_int({}, "limit", 20, 1, 100) == 20
    assert query_int({"limit": "50"}, "limit", 20, 1, 100) == 50
    assert query_int({"limit": "1"}, "limit", 20, 1, 100) == 1
    assert query_int({"limit": "100"}, "limit", 20, 1, 100) == 100
    assert query_int({"limit": "-3"}, "limit", 0, -5, 5) == -3


@pytest.mark.parametrize("raw", ["0", "101", "-1", "100000"])
def test_query_int_out_of_bounds(raw: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        query_int({"limit": raw}, "limit", 20, 1, 100)
    assert [d.as_dict() for d in info.value.details] == [
        {"field": "query.limit", "message": "must be between 1 and 100"}
    ]


@pytest.mark.parametrize("raw", ["abc", "", "2.5", "1e2", "ten"])
def test_query_int_non_numbers(raw: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        query_int({"page": raw}, "page", 1, 1, 1000)
    assert info.value.status == 422
    assert [d.as_dict() for d in info.value.details] == [
        {"field": "query.page", "message": "must be a whole number"}
    ]
