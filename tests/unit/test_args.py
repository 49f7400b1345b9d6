"""check_arguments: the small JSON-schema check applied before a tool runs."""

from __future__ import annotations

from typing import Any

import pytest

from agentbatch.tools.args import check_arguments

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "count": {"type": "integer"},
        "ratio": {"type": "number"},
        "flag": {"type": "boolean"},
        "tags": {"type": "array"},
        "meta": {"type": "object"},
        "mode": {"type": "string", "enum": ["fast", "slow"]},
        "maybe": {"type": ["string", "null"]},
    },
    "required": ["name"],
}


def test_valid_arguments_pass() -> None:
    args = {
        "name": "x",
        "count": 2,
        "ratio": 0.5,
        "flag": False,
        "tags": [1],
        "meta": {},
        "mode": "fast",
        "maybe": None,
    }
    assert check_arguments(SCHEMA, args) is None


def test_missing_required() -> None:
    problem = check_arguments(SCHEMA, {"count": 1})
    assert problem is not None and "missing required argument 'name'" in problem


def test_empty_schema_accepts_anything() -> None:
    assert check_arguments({}, {"anything": 1}) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", 5),
        ("count", "5"),
        ("count", 1.5),
        ("ratio", "0.5"),
        ("tags", "a,b"),
        ("meta", []),
        ("flag", "true"),
        ("flag", 1),
    ],
)
def test_wrong_types_fail(field: str, value: Any) -> None:
    problem = check_arguments(SCHEMA, {"name": "x", field: value})
    assert problem is not None and repr(field) in problem


@pytest.mark.parametrize("field", ["count", "ratio"])
def test_bool_is_not_a_number(field: str) -> None:
    problem = check_arguments(SCHEMA, {"name": "x", field: True})
    assert problem is not None
    assert "boolean" in problem


def test_integer_accepted_as_number() -> None:
    assert check_arguments(SCHEMA, {"name": "x", "ratio": 3}) is None


def test_enum() -> None:
    assert check_arguments(SCHEMA, {"name": "x", "mode": "slow"}) is None
    problem = check_arguments(SCHEMA, {"name": "x", "mode": "medium"})
    assert problem is not None and "'mode'" in problem and "fast" in problem


def test_union_type_list() -> None:
    assert check_arguments(SCHEMA, {"name": "x", "maybe": "s"}) is None
    assert check_arguments(SCHEMA, {"name": "x", "maybe": 3}) is not None


def test_null_for_optional_field_is_accepted_but_not_for_required() -> None:
    assert check_arguments(SCHEMA, {"name": "x", "count": None}) is None
    assert check_arguments(SCHEMA, {"name": None}) is not None


def test_additional_properties_false_rejects_extras() -> None:
    strict = {**SCHEMA, "additionalProperties": False}
    problem = check_arguments(strict, {"name": "x", "zz": 1, "aa": 2})
    assert problem is not None
    assert "aa, zz" in problem
    assert check_arguments(strict, {"name": "x", "count": 1}) is None


def test_extras_allowed_by_default() -> None:
    assert check_arguments(SCHEMA, {"name": "x", "extra": object()}) is None


def test_missing_required_is_reported_before_type_errors() -> None:
    problem = check_arguments(SCHEMA, {"count": "bad"})
    assert problem is not None and "missing" in problem


def test_enum_without_type_is_enforced() -> None:
    schema = {"type": "object", "properties": {"mode": {"enum": ["a", "b"]}}}
    assert check_arguments(schema, {"mode": "c"}) is not None
