"""Request assembly: tool schemas with request_heartbeat, memory in the system message,
tool_choice from the rules, model name and settings."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from agentbatch.domain.agents import AgentSpec, BlockView
from agentbatch.domain.messages import Message
from agentbatch.domain.model_io import ModelRequest, ToolSpec
from agentbatch.domain.rules import parse_rules
from agentbatch.step import memory as memory_mod
from agentbatch.step.memory import MemoryRenderer, render_block
from agentbatch.step.prepare import (
    HEARTBEAT_ARG,
    ToolCatalog,
    add_heartbeat,
    build_request,
    provider_options,
)
from agentbatch.step.solver import SolverState
from agentbatch.tools.builtins import BUILTIN_SPECS

LOOKUP = ToolSpec(
    "lookup",
    "Look something up",
    {
        "type": "object",
        "properties": {"q": {"type": "string"}, "limit": {"type": "integer"}},
        "required": ["q"],
        "additionalProperties": False,
    },
)
NOARGS = ToolSpec("noargs", "No parameters at all", {})


def catalog() -> ToolCatalog:
    return ToolCatalog({**BUILTIN_SPECS, "lookup": LOOKUP, "noargs": NOARGS})


TOOLS = ("send_message", "core_memory_append", "lookup", "noargs")

HUMAN = BlockView(
    id="blk-human", label="human", value="Name: Ada", limit=200, description="About the user"
)
PERSONA = BlockView(
    id="blk-persona", label="persona", value="I am helpful.", limit=500, read_only=True
)
SHARED = BlockView(id="blk-shared", label="org", value="ACME policy v2", limit=1000, version=7)


def agent(**overrides: Any) -> AgentSpec:
    values: dict[str, Any] = {
        "id": "agent-1",
        "name": "ada",
        "system": "You are a memory agent.",
        "model": "anthropic/claude-sonnet-4-5",
        "tool_names": TOOLS,
    }
    values.update(overrides)
    if "rules" in values and values["rules"] and isinstance(values["rules"][0], dict):
        values["rules"] = parse_rules(values["rules"], values["tool_names"])
    return AgentSpec(**values)


def build(
    spec: AgentSpec | None = None,
    *,
    blocks: list[BlockView] | None = None,
    state: SolverState | None = None,
    renderer: MemoryRenderer | None = None,
    cat: ToolCatalog | None = None,
    **kw: Any,
) -> ModelRequest:
    return build_request(
        spec or agent(),
        [HUMAN, PERSONA] if blocks is None else blocks,
        [Message.user("hello")],
        state or SolverState(),
        catalog=cat or catalog(),
        renderer=renderer or MemoryRenderer(),
        step=kw.pop("step", 0),
        **kw,
    )


# -- add_heartbeat / catalog ------------------------------------------------------------


def test_add_heartbeat_adds_required_boolean_and_keeps_own_fields() -> None:
    spec = add_heartbeat(LOOKUP)
    params = spec.parameters
    assert params["type"] == "object"
    assert params["properties"][HEARTBEAT_ARG]["type"] == "boolean"
    assert params["required"] == ["q", HEARTBEAT_ARG]
    assert params["properties"]["q"] == {"type": "string"}
    assert params["properties"]["limit"] == {"type": "integer"}
    assert params["additionalProperties"] is False
    assert spec.name == "lookup" and spec.description == LOOKUP.description
    # the original spec is not mutated
    assert HEARTBEAT_ARG not in LOOKUP.parameters["properties"]
    assert LOOKUP.parameters["required"] == ["q"]


def test_add_heartbeat_on_empty_schema() -> None:
    params = add_heartbeat(NOARGS).parameters
    assert params["type"] == "object"
    assert params["required"] == [HEARTBEAT_ARG]
    assert set(params["properties"]) == {HEARTBEAT_ARG}


def test_add_heartbeat_is_idempotent() -> None:
    twice = add_heartbeat(add_heartbeat(LOOKUP)).parameters
    assert twice["required"] == ["q", HEARTBEAT_ARG]


def test_catalog_caches_model_specs_and_keeps_originals() -> None:
    cat = catalog()
    assert "lookup" in cat and "nope" not in cat
    assert cat.model_spec("lookup") is cat.model_spec("lookup")
    assert HEARTBEAT_ARG not in cat.specs["lookup"].parameters["properties"]


def test_every_tool_sent_has_required_heartbeat_and_keeps_own_required() -> None:
    req = build()
    assert [t.name for t in req.tools] == list(TOOLS)
    for tool in req.tools:
        params = tool.parameters
        assert params["properties"][HEARTBEAT_ARG]["type"] == "boolean", tool.name
        assert HEARTBEAT_ARG in params["required"], tool.name
        own = list(catalog().specs[tool.name].parameters.get("required") or [])
        assert params["required"][: len(own)] == own, tool.name


# -- memory rendering -------------------------------------------------------------------


def test_system_message_holds_each_block_label_value_and_sizes() -> None:
    req = build()
    system = req.system
    assert system.startswith("You are a memory agent.")
    for block in (HUMAN, PERSONA):
        assert f"<{block.label}>" in system
        assert block.value in system
        assert f"chars_current={len(block.value)} chars_limit={block.limit}" in system
    assert "About the user" in system
    assert "read_only=true" in system
    assert system.index("<human>") < system.index("<persona>")  # attachment order


def test_no_blocks_system_is_just_the_prompt() -> None:
    assert build(blocks=[]).system == "You are a memory agent."


def test_render_block_shows_current_length() -> None:
    text = render_block(BlockView(id="b", label="notes", value="x" * 42, limit=100))
    assert "chars_current=42 chars_limit=100" in text
    assert "read_only" not in text


def test_shared_block_rendered_once_across_agents(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counting(block: BlockView) -> str:
        calls.append(block.id)
        return render_block(block)

    monkeypatch.setattr(memory_mod, "render_block", counting)
    renderer = MemoryRenderer()
    for i in range(50):
        build(agent(id=f"agent-{i}"), blocks=[SHARED, HUMAN], renderer=renderer)
    assert calls.count("blk-shared") == 1
    assert calls.count("blk-human") == 1


def test_shared_block_same_version_returns_identical_text() -> None:
    renderer = MemoryRenderer()
    first = renderer.block(SHARED)
    again = renderer.block(replace(SHARED))  # an equal copy, as another agent loads it
    assert again is first


def test_new_block_version_renders_again() -> None:
    renderer = MemoryRenderer()
    old = renderer.block(SHARED)
    updated = SHARED.with_value("ACME policy v3")
    new = renderer.block(updated)
    assert "ACME policy v3" in new and new != old
    assert renderer.system_message("s", [updated]).count("ACME policy v3") == 1


# -- tool_choice and allowed tools --------------------------------------------------------


def test_tool_choice_auto_without_rules() -> None:
    assert build().tool_choice == "auto"


def test_tool_choice_required_when_init_pending() -> None:
    req = build(agent(rules=[{"type": "init", "tool": "lookup"}]))
    assert req.tool_choice == "required"
    assert [t.name for t in req.tools] == ["lookup"]


def test_tool_choice_auto_after_init_done() -> None:
    req = build(
        agent(rules=[{"type": "init", "tool": "lookup"}]), state=SolverState(("lookup",), "x")
    )
    assert req.tool_choice == "auto"
    assert [t.name for t in req.tools] == list(TOOLS)


def test_tool_choice_none_when_no_tools_allowed() -> None:
    spec = agent(
        rules=[
            {
                "type": "conditional",
                "tool": "lookup",
                "mapping": {"a": "noargs"},
                "require_output_mapping": True,
            }
        ]
    )
    req = build(spec, state=SolverState(("lookup",), "unmapped"))
    assert req.tools == ()
    assert req.tool_choice == "none"


def test_tool_choice_none_when_agent_has_no_tools() -> None:
    req = build(agent(tool_names=()))
    assert req.tools == () and req.tool_choice == "none"


def test_only_allowed_tools_are_sent() -> None:
    spec = agent(
        rules=[{"type": "child", "tool": "lookup", "children": ["send_message", "noargs"]}]
    )
    req = build(spec, state=SolverState(("lookup",), "r"))
    assert [t.name for t in req.tools] == ["send_message", "noargs"]
    assert req.tool_choice == "required"


def test_tools_missing_from_catalog_are_skipped() -> None:
    req = build(agent(tool_names=("lookup", "deleted_tool")))
    assert [t.name for t in req.tools] == ["lookup"]


# -- model, settings, options ----------------------------------------------------------


def test_model_name_without_provider_prefix() -> None:
    assert build().model == "claude-sonnet-4-5"
    assert build(agent(model="openai-compatible/org/model-7b")).model == "org/model-7b"


def test_defaults_for_max_tokens_and_temperature() -> None:
    req = build()
    assert req.max_tokens == 1024
    assert req.temperature is None


def test_max_tokens_and_temperature_from_model_settings() -> None:
    spec = agent(model_settings={"max_tokens": 333, "temperature": 0})
    req = build(spec)
    assert req.max_tokens == 333
    assert req.temperature == 0.0
    assert "max_tokens" not in req.options
    assert "temperature" not in req.options


def test_a_stored_bad_setting_is_a_readable_error() -> None:
    """Settings stored before they were checked fail the request in words, not int()."""
    with pytest.raises(ValueError) as caught:
        build(agent(model_settings={"max_tokens": "abc"}))
    text = str(caught.value)
    assert text.startswith("model_settings.max_tokens must be a whole number")
    assert "agentbatch agents update agent-1 --set max_tokens=" in text
    assert "int()" not in text


def test_other_model_settings_go_to_options_and_override_job_options() -> None:
    script = [{"text": "hi"}]
    spec = agent(model_settings={"script": script, "max_tokens": 50, "thinking": True})
    req = build(spec, job_options={"script": [{"text": "job"}], "callback": "x"})
    assert req.options["script"] == script
    assert req.options["thinking"] is True
    assert req.options["callback"] == "x"


def test_provider_options_does_not_mutate_job_options() -> None:
    job = {"a": 1}
    out = provider_options(agent(model_settings={"a": 2, "temperature": 0.5}), job)
    assert out == {"a": 2}
    assert job == {"a": 1}


def test_request_carries_context_step_attempt_and_agent() -> None:
    context = [Message.user("one"), Message(role="assistant", content="two", kind="assistant")]
    req = build_request(
        agent(),
        [HUMAN],
        context,
        SolverState(),
        catalog=catalog(),
        renderer=MemoryRenderer(),
        step=3,
        attempt=2,
    )
    assert req.messages == tuple(context)
    assert req.step == 3 and req.attempt == 2
    assert req.agent_id == "agent-1"
