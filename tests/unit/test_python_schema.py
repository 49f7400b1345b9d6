"""Deriving a tool's JSON schema from its Python source (ast only, never executed)."""

from __future__ import annotations

import pytest

from agentbatch.errors import InvalidInput
from agentbatch.tools.python_schema import ToolSourceError, derive_tool_schema

WEATHER = '''
import json

UNITS = ("c", "f")


def _helper(x):
    return x


def get_weather(city: str, days: int = 1, unit: Literal["c", "f"] = "c",
                detailed: bool = False, agent_id: str = "", memory: dict | None = None) -> str:
    """Return the weather forecast for a city.

    Uses the national weather service.

    Args:
        city: Name of the city,
            for example "Paris".
        days (int): How many days to forecast.
        unit: Temperature unit.

    Returns:
        The forecast as text.
    """
    return json.dumps([city, days])
'''


def test_weather_tool_schema() -> None:
    tool = derive_tool_schema(WEATHER)

    assert tool.name == "get_weather"
    assert tool.description == "Return the weather forecast for a city."
    assert tool.wants_agent_id is True
    assert tool.wants_memory is True
    assert tool.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": 'Name of the city, for example "Paris".'},
            "days": {"type": "integer", "description": "How many days to forecast.", "default": 1},
            "unit": {
                "type": "string",
                "enum": ["c", "f"],
                "description": "Temperature unit.",
                "default": "c",
            },
            "detailed": {"type": "boolean", "default": False},
        },
        "required": ["city"],
    }
    assert tool.spec().name == "get_weather"


@pytest.mark.parametrize(
    ("hint", "schema"),
    [
        ("str", {"type": "string"}),
        ("int", {"type": "integer"}),
        ("float", {"type": "number"}),
        ("bool", {"type": "boolean"}),
        ("list[str]", {"type": "array", "items": {"type": "string"}}),
        ("List[int]", {"type": "array", "items": {"type": "integer"}}),
        ("typing.List[float]", {"type": "array", "items": {"type": "number"}}),
        ("list", {"type": "array"}),
        ("dict", {"type": "object"}),
        ("dict[str, int]", {"type": "object", "additionalProperties": {"type": "integer"}}),
        ("Optional[str]", {"type": ["string", "null"]}),
        ("str | None", {"type": ["string", "null"]}),
        ("None | int", {"type": ["integer", "null"]}),
        ("Union[int, str]", {"anyOf": [{"type": "integer"}, {"type": "string"}]}),
        (
            "int | str | None",
            {"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]},
        ),
        ("Literal['a', 'b']", {"type": "string", "enum": ["a", "b"]}),
        ("Literal[1, 2]", {"type": "integer", "enum": [1, 2]}),
        ("Optional[Literal['x']]", {"type": ["string", "null"], "enum": ["x", None]}),
        (
            "list[dict[str, bool]]",
            {
                "type": "array",
                "items": {"type": "object", "additionalProperties": {"type": "boolean"}},
            },
        ),
        ("tuple[int, ...]", {"type": "array", "items": {"type": "integer"}}),
        ("Annotated[int, 'meta']", {"type": "integer"}),
        ("'str'", {"type": "string"}),
        ("Any", {}),
    ],
)
def test_type_hints_map_to_json_schema(hint: str, schema: dict[str, object]) -> None:
    source = f'def tool(x: {hint}):\n    """Do it."""\n'

    assert derive_tool_schema(source).parameters["properties"]["x"] == schema


def test_keyword_only_and_async_functions() -> None:
    source = 'async def fetch(url: str, *, retries: int = 3, tag: str):\n    """Fetch."""\n'

    tool = derive_tool_schema(source)

    assert tool.parameters["required"] == ["url", "tag"]
    assert tool.parameters["properties"]["retries"] == {"type": "integer", "default": 3}
    assert tool.wants_agent_id is False and tool.wants_memory is False


def test_non_literal_default_makes_the_parameter_optional_without_a_default() -> None:
    source = 'import os\ndef tool(path: str = os.sep):\n    """Do it."""\n'

    tool = derive_tool_schema(source)

    assert tool.parameters["required"] == []
    assert tool.parameters["properties"]["path"] == {"type": "string"}


def test_description_is_the_first_paragraph_joined() -> None:
    source = 'def tool():\n    """Line one\n    and two.\n\n    More detail.\n    """\n'

    assert derive_tool_schema(source).description == "Line one and two."


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def tool(:\n    pass\n", "syntax error at line 1"),
        ("x = 1\n", "defines no public function"),
        ("def _private():\n    '''Doc.'''\n", "defines no public function"),
        ("def a():\n    '''A.'''\ndef b():\n    '''B.'''\n", "several public functions ('a', 'b')"),
        ("def tool(x: int):\n    return x\n", "has no docstring"),
        ("def tool(x):\n    '''Doc.'''\n", "parameter 'x' of function 'tool' has no type hint"),
        ("def tool(*args: int):\n    '''Doc.'''\n", "*args is not supported"),
        ("def tool(**kw: int):\n    '''Doc.'''\n", "**kw is not supported"),
        ("def tool(x: set[int]):\n    '''Doc.'''\n", "unsupported type hint 'set[int]'"),
        ("def tool(x: MyClass):\n    '''Doc.'''\n", "unsupported type hint 'MyClass'"),
        ("def tool(x: dict[int, str]):\n    '''Doc.'''\n", "keys must be str"),
        ("def tool(x: Literal[len]):\n    '''Doc.'''\n", "Literal values must be constants"),
        (f"def {'f' * 65}():\n    '''Doc.'''\n", "longer than 64 characters"),
    ],
)
def test_invalid_sources_raise_a_clear_value_error(source: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        derive_tool_schema(source)

    assert message in str(caught.value)
    assert isinstance(caught.value, ToolSourceError)
    assert isinstance(caught.value, InvalidInput)  # a user error: 4xx in the API


def test_source_is_never_executed() -> None:
    source = "raise SystemExit('executed!')\ndef tool(x: int):\n    '''Doc.'''\n"

    assert derive_tool_schema(source).name == "tool"
