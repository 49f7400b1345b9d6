"""The pure Letta mappings: rule kinds, built-in tools, model handles, batch requests, and
the errors a bad Agent File gets."""

from __future__ import annotations

from typing import Any

import pytest

from agentbatch.domain.rules import parse_rule
from agentbatch.errors import InvalidInput
from agentbatch.interop.letta import batches, models, tools
from agentbatch.interop.letta import schema as s
from agentbatch.interop.letta.parse import parse_agent_file
from agentbatch.interop.letta.rules import rule_from_letta, rule_to_letta
from tests.letta_files import BOB_RULES, agent_file

RULE = s.AgentFile.model_fields["tool_rules"]


def _letta_rule(raw: dict[str, Any]) -> Any:
    return s.AgentFile.model_validate({"id": "agent-0", "tool_rules": [raw]}).tool_rules[0]


def test_every_shared_rule_kind_maps_both_ways_unchanged() -> None:
    notes: list[str] = []
    ours = [rule_from_letta(_letta_rule(r), lambda n: n, notes.append) for r in BOB_RULES]
    assert notes == []
    assert [r["type"] for r in ours if r] == [
        "init",
        "terminal",
        "continue",
        "child",
        "conditional",
        "parent",
        "max_count_per_step",
        "required_before_exit",
    ]
    back = [rule_to_letta(parse_rule(r)) for r in ours if r]
    assert back == BOB_RULES


def test_rules_that_cannot_be_kept_are_noted_not_dropped_silently() -> None:
    notes: list[str] = []
    gone = {"web_search"}

    def rename(name: str) -> str | None:
        return None if name in gone else name

    approval = _letta_rule({"tool_name": "shout", "type": "requires_approval"})
    assert rule_from_letta(approval, rename, notes.append) is None
    child = _letta_rule(
        {"tool_name": "a", "type": "constrain_child_tools", "children": ["web_search", "b"]}
    )
    assert rule_from_letta(child, rename, notes.append) == {
        "type": "child",
        "tool": "a",
        "children": ["b"],
    }
    cond = _letta_rule(
        {
            "tool_name": "check",
            "type": "conditional",
            "child_output_mapping": {"True": "yes", "False": "web_search"},
        }
    )
    mapped = rule_from_letta(cond, rename, notes.append)
    assert mapped is not None and mapped["mapping"] == {"true": "yes"}
    init = _letta_rule({"tool_name": "a", "type": "run_first", "args": {"x": 1}})
    assert rule_from_letta(init, rename, notes.append) == {"type": "init", "tool": "a"}
    assert len(notes) == 4
    assert "no approval step" in notes[0] and "prefilled args" in notes[3]


def test_builtin_tools_map_by_name_and_behaviour() -> None:
    assert tools.builtin_for("send_message") == tools.Resolved("send_message")
    replaced = tools.builtin_for("memory_replace")
    assert replaced.name == "core_memory_replace" and replaced.mapped
    archival = tools.builtin_for("archival_memory_insert")
    assert archival == tools.Resolved("archival_memory_insert")
    assert tools.builtin_for("web_search", "letta_builtin").name is None


@pytest.mark.parametrize(
    ("handle", "endpoint", "expected"),
    [
        ("anthropic/claude-sonnet-4-5", "anthropic", "anthropic/claude-sonnet-4-5"),
        ("ollama/llama3.2:3b", "ollama", "openai-compatible/llama3.2:3b"),
        ("my-openai/gpt-4o-mini", "openai", "openai/gpt-4o-mini"),
        ("google_ai/gemini-2.5-pro", "google_ai", "google/gemini-2.5-pro"),
        ("google_vertex/gemini-2.5-flash", "google_vertex", "google/gemini-2.5-flash"),
        ("my-gemini/gemini-2.5-flash", "google_ai", "google/gemini-2.5-flash"),
    ],
)
def test_model_handles(handle: str, endpoint: str, expected: str) -> None:
    assert models.our_handle(handle, endpoint)[0] == expected


def test_an_unsupported_provider_says_how_to_choose_a_model() -> None:
    with pytest.raises(models.UnsupportedModel, match="pass --model"):
        models.our_handle("bedrock/claude-3-haiku", "bedrock")


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (
            lambda d: d["agents"][0]["messages"][3]["content"][0].pop("text"),
            "agents[0].messages[3].content[0].text: Field required",
        ),
        (
            lambda d: d["agents"][0]["tool_rules"].append({"tool_name": "x", "type": "nope"}),
            "agents[0].tool_rules[2]: Input tag 'nope'",
        ),
        (lambda d: d["blocks"][1].update(value="a\x00b"), "blocks[1].value: contains a NUL"),
        (lambda d: d.update(agents=[]), "agents: List should have at least 1 item"),
    ],
)
def test_a_bad_file_is_named_by_its_first_bad_field(change: Any, where: str) -> None:
    doc = agent_file()
    change(doc)
    with pytest.raises(InvalidInput) as info:
        parse_agent_file(doc)
    assert where in str(info.value)


def test_legacy_single_agent_files_get_a_clear_message() -> None:
    with pytest.raises(InvalidInput, match="legacy single-agent Agent File"):
        parse_agent_file({"name": "old", "core_memory": [], "messages": []})


def test_a_letta_batch_becomes_one_job() -> None:
    body = batches.CreateBatch.model_validate(
        {
            "requests": [
                {"agent_id": "agent-1", "input": "hi", "max_steps": 7},
                {
                    "agent_id": "agent-2",
                    "messages": [{"role": "user", "content": [{"type": "text", "text": "yo"}]}],
                    "use_assistant_message": False,
                },
            ],
            "callback_url": "https://example.com/done",
        }
    )
    job = batches.job_create(body)
    assert job["max_steps"] == 7 and job["callback_url"] == "https://example.com/done"
    assert [r["messages"] for r in job["requests"]] == [
        [{"role": "user", "content": "hi"}],
        [{"role": "user", "content": "yo"}],
    ]
    two = body.model_copy(deep=True)
    two.requests[1].max_steps = 3
    with pytest.raises(InvalidInput, match="different max_steps"):
        batches.job_create(two)
    system = batches.CreateBatch.model_validate(
        {"requests": [{"agent_id": "a", "messages": [{"role": "system", "content": "x"}]}]}
    )
    with pytest.raises(InvalidInput, match=r"requests\[0\].messages\[0\].role"):
        batches.job_create(system)
