"""The scripted model: deterministic answers from a script."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentbatch.domain.model_io import Outcome
from agentbatch.providers.scripted_model import END_OF_SCRIPT, answer, validate_script


def ans(script: list[dict[str, Any]], step: int = 0, attempt: int = 1, **kw: Any) -> Any:
    kw.setdefault("call_id_prefix", "call_item1")
    return answer(script, step=step, attempt=attempt, **kw)


def test_tool_step() -> None:
    script = [
        {
            "tool": "core_memory_append",
            "args": {"label": "notes", "content": "x"},
            "heartbeat": True,
        }
    ]
    result = ans(script)
    assert result.outcome is Outcome.SUCCEEDED
    r = result.response
    assert r.content is None
    assert r.stop_reason == "tool_use"
    assert len(r.tool_calls) == 1
    call = r.tool_calls[0]
    assert call.name == "core_memory_append"
    assert call.id == "call_item1_0"
    assert json.loads(call.arguments) == {
        "label": "notes",
        "content": "x",
        "request_heartbeat": True,
    }


def test_tool_step_without_heartbeat_key_sends_none() -> None:
    r = ans([{"tool": "ping", "args": {}}]).response
    assert json.loads(r.tool_calls[0].arguments) == {}


def test_tool_calls_step_keeps_order_and_distinct_ids() -> None:
    script = [
        {
            "tool_calls": [
                {"tool": "a", "args": {"n": 1}, "heartbeat": False},
                {"tool": "b", "args": {"n": 2}},
                {"tool": "a", "args": {"n": 3}, "heartbeat": True},
            ]
        }
    ]
    r = ans(script, call_id_prefix="p").response
    assert [c.name for c in r.tool_calls] == ["a", "b", "a"]
    assert [c.id for c in r.tool_calls] == ["p_0", "p_1", "p_2"]
    assert [json.loads(c.arguments) for c in r.tool_calls] == [
        {"n": 1, "request_heartbeat": False},
        {"n": 2},
        {"n": 3, "request_heartbeat": True},
    ]


def test_text_step() -> None:
    r = ans([{"text": "final answer", "reasoning": "because"}]).response
    assert r.content == "final answer"
    assert r.tool_calls == ()
    assert r.reasoning == "because"
    assert r.stop_reason == "end_turn"


def test_raw_arguments_sent_verbatim() -> None:
    script = [
        {"tool": "ping", "args": {"ignored": 1}, "raw_arguments": '{"broken": ', "heartbeat": True}
    ]
    r = ans(script).response
    assert r.tool_calls[0].arguments == '{"broken": '


def test_steps_are_indexed_by_call_number() -> None:
    script = [{"text": "zero"}, {"text": "one"}, {"text": "two"}]
    assert [ans(script, step=i).response.content for i in range(3)] == ["zero", "one", "two"]


def test_fail_list_by_attempt() -> None:
    script = [{"text": "ok", "fail": ["errored", "expired"]}]
    first = ans(script, attempt=1)
    second = ans(script, attempt=2)
    third = ans(script, attempt=3)
    assert first.outcome is Outcome.ERRORED and first.response is None and first.error
    assert second.outcome is Outcome.EXPIRED and second.response is None
    assert third.outcome is Outcome.SUCCEEDED and third.response.content == "ok"


def test_fail_canceled() -> None:
    assert ans([{"text": "ok", "fail": ["canceled"]}]).outcome is Outcome.CANCELED


def test_fail_always() -> None:
    script = [{"text": "never", "fail": "always"}]
    for attempt in (1, 2, 10):
        result = ans(script, attempt=attempt)
        assert result.outcome is Outcome.ERRORED
        assert result.response is None


def test_fail_applies_only_to_its_step() -> None:
    script = [{"text": "a", "fail": "always"}, {"text": "b"}]
    assert ans(script, step=1).outcome is Outcome.SUCCEEDED


def test_past_end_of_script() -> None:
    for script in ([], [{"text": "only"}]):
        r = ans(script, step=len(script)).response
        assert r.content == END_OF_SCRIPT == "(end of script)"
        assert r.tool_calls == ()


def test_templates_in_args_text_and_reasoning() -> None:
    script = [
        {
            "tool": "send_message",
            "args": {
                "message": "agent {agent_id} step {step} got {input}",
                "nested": [{"k": "{agent_id}"}],
            },
        },
        {"text": "done {agent_id}/{step}", "reasoning": "r{step}"},
    ]
    first = ans(script, step=0, agent_id="ag-7", latest_input="hello").response
    args = json.loads(first.tool_calls[0].arguments)
    assert args["message"] == "agent ag-7 step 0 got hello"
    assert args["nested"] == [{"k": "ag-7"}]
    second = ans(script, step=1, agent_id="ag-7").response
    assert second.content == "done ag-7/1"
    assert second.reasoning == "r1"


def test_template_literal_braces_and_unknown_names_left_alone() -> None:
    r = ans([{"text": "{{literal}} {agent_id}"}], agent_id="x").response
    assert r.content == "{literal} x"
    r = ans([{"text": "{unknown} stays"}]).response
    assert r.content == "{unknown} stays"


def test_input_with_braces_is_not_reformatted() -> None:
    r = ans([{"text": "echo {input}"}], latest_input="{agent_id}").response
    assert r.content == "echo {agent_id}"


def test_usage_tokens_positive() -> None:
    r = ans([{"text": "hi"}], prompt_chars=4000).response
    assert r.usage.input_tokens == 1000
    assert r.usage.output_tokens > 0
    tiny = ans([{"tool": "ping", "args": {}}], prompt_chars=0).response
    assert tiny.usage.input_tokens > 0 and tiny.usage.output_tokens > 0


def test_model_name_reported() -> None:
    assert ans([{"text": "x"}], model="scripted/m").response.model == "scripted/m"


def test_deterministic() -> None:
    script = [{"tool_calls": [{"tool": "a", "args": {"x": "{input}"}}], "text": "t"}]
    kw = {"agent_id": "a", "latest_input": "in", "prompt_chars": 99}
    assert ans(script, **kw) == ans(script, **kw)


# -- validate_script --------------------------------------------------------------------


def test_validate_accepts_good_script_and_copies_steps() -> None:
    script = [
        {"tool": "x", "args": {}},
        {"tool_calls": []},
        {"text": "t", "fail": ["expired"]},
        {"text": "u", "fail": "always"},
    ]
    out = validate_script(script)
    assert out == script
    assert out[0] is not script[0]


@pytest.mark.parametrize("bad", [None, "text", {"text": "x"}, 3])
def test_validate_rejects_non_list(bad: Any) -> None:
    with pytest.raises(ValueError, match="list"):
        validate_script(bad)


@pytest.mark.parametrize("step", [{}, {"args": {}}, {"reasoning": "r"}])
def test_validate_rejects_step_without_tool_or_text(step: dict) -> None:
    with pytest.raises(ValueError, match="step 1"):
        validate_script([{"text": "ok"}, step])


def test_validate_rejects_non_object_step() -> None:
    with pytest.raises(ValueError, match="step 0"):
        validate_script(["text"])


@pytest.mark.parametrize("fail", ["sometimes", ["errored", "timeout"], [1], "errored", {"a": 1}])
def test_validate_rejects_bad_fail_values(fail: Any) -> None:
    with pytest.raises(ValueError, match="fail"):
        validate_script([{"text": "x", "fail": fail}])


@pytest.mark.parametrize(
    "script",
    [
        [{"tool_calls": [{"args": {}}]}],
        [{"tool_calls": "abc"}],
        [{"tool": "x", "args": "not an object"}],
    ],
)
def test_validate_rejects_scripts_that_answer_cannot_play(script: list[dict[str, Any]]) -> None:
    with pytest.raises(ValueError):
        validate_script(script)


async def test_the_scripted_provider_refuses_a_request_over_its_window(tmp_path: Any) -> None:
    from agentbatch.domain.messages import Message
    from agentbatch.domain.model_io import ModelRequest
    from agentbatch.providers.scripted import ScriptedProvider

    provider = ScriptedProvider(tmp_path)
    small = ModelRequest(
        "x", "sys", (Message.user("hi"),), max_tokens=10, options={"context_window": 100}
    )
    big = ModelRequest(
        "x", "sys", (Message.user("w" * 400),), max_tokens=10, options={"context_window": 100}
    )
    summary = ModelRequest(
        "x", "sys", (Message.user("lines fact:k9 and fact:z1."),), max_tokens=50, purpose="summary"
    )
    handle = await provider.submit(
        "x", [provider.encode("a", small), provider.encode("b", big), provider.encode("c", summary)]
    )
    results = {r.custom_id: r async for r in provider.results(handle)}
    assert results["a"].outcome is Outcome.SUCCEEDED
    assert results["b"].outcome is Outcome.ERRORED and not results["b"].retryable
    assert "prompt is too long" in (results["b"].error or "")
    assert [r[0] for r in provider.refused] == ["b"]
    assert "fact:k9 fact:z1" in (results["c"].response.content or "")
