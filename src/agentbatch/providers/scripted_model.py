"""The scripted model: deterministic answers from a script, shared by the ``scripted/``
provider and the protocol emulators.

A script is a list of steps; step ``n`` answers the run's ``n``-th model call (0-based).
Each step is one of::

    {"tool": "core_memory_append", "args": {...}, "heartbeat": true}
    {"tool_calls": [{"tool": ..., "args": {...}, "heartbeat": false}, ...]}
    {"text": "final answer"}

and may add ``"reasoning": "..."``, ``"raw_arguments": "{not json"`` (sent verbatim instead
of ``args``), and ``"fail": ["errored", "expired", ...]``: attempt ``k`` (1-based) of that
step ends with ``fail[k-1]`` while the list lasts (``"fail": "always"`` fails every attempt
as ``errored``). Past the end of the script the model answers with text ``"(end of
script)"``. String arguments may use ``{agent_id}``, ``{step}`` and ``{input}`` (the
latest user input text); a literal brace is written ``{{``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentbatch import jsonfast
from agentbatch.domain.messages import ToolCall
from agentbatch.domain.model_io import ModelResponse, Outcome, Usage

END_OF_SCRIPT = "(end of script)"


@dataclass(frozen=True, slots=True)
class ScriptedAnswer:
    outcome: Outcome
    response: ModelResponse | None = None
    error: str | None = None


def validate_script(script: Any) -> list[dict[str, Any]]:
    """Check a script's shape; ValueError with the offending step otherwise."""
    if not isinstance(script, list):
        raise ValueError("a script must be a list of steps")
    for i, step in enumerate(script):
        if not isinstance(step, Mapping):
            raise ValueError(f"script step {i} must be an object")
        if not ({"tool", "tool_calls", "text"} & set(step)):
            raise ValueError(f"script step {i} needs 'tool', 'tool_calls' or 'text'")
        calls = step.get("tool_calls", [step] if "tool" in step else [])
        if not isinstance(calls, list):
            raise ValueError(f"script step {i}: 'tool_calls' must be a list")
        for call in calls:
            if not isinstance(call, Mapping) or not isinstance(call.get("tool"), str):
                raise ValueError(f"script step {i}: every tool call needs a 'tool' name")
            if not isinstance(call.get("args", {}), Mapping):
                raise ValueError(f"script step {i}: 'args' must be an object")
        fail = step.get("fail")
        bad_fail = (
            fail is not None
            and fail != "always"
            and not (
                isinstance(fail, list)
                and all(f in ("errored", "expired", "canceled") for f in fail)
            )
        )
        if bad_fail:
            raise ValueError(
                f"script step {i}: 'fail' must be 'always' or a list of errored/expired/canceled"
            )
    return [dict(s) for s in script]


def _fill(value: Any, context: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        try:
            return value.format_map(context)
        except (KeyError, ValueError, IndexError):
            return value
    if isinstance(value, list):
        return [_fill(v, context) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, context) for k, v in value.items()}
    return value


def _estimate_tokens(text_chars: int) -> int:
    return max(1, text_chars // 4)


# The scripted model's own tokenizer: 4 characters a token (rounded up) plus 4 per
# message and tool, like a real provider that counts what it receives. The runtime's
# conservative estimate (``step.tokens``) must never count less than this.
def text_tokens(text: str | None) -> int:
    return -(-len(text) // 4) if text else 0


def request_tokens(request: Any) -> int:
    """Tokens of a ``ModelRequest``'s prompt as the scripted model counts them."""
    n = text_tokens(request.system)
    for m in request.messages:
        n += 4 + text_tokens(m.content) + text_tokens(m.reasoning)
        for c in m.tool_calls:
            n += 4 + text_tokens(c.name) + text_tokens(c.arguments)
    for t in request.tools:
        n += 4 + text_tokens(t.name) + text_tokens(t.description)
        n += text_tokens(jsonfast.dumps(dict(t.parameters)))
    return n


FACT = re.compile(r"\bfact[:=][\w-]+(?:\.[\w-]+)*", re.IGNORECASE)


def summarise(prompt: str, max_tokens: int, model: str = "scripted") -> ModelResponse:
    """A summary step's answer: how many lines it folded, and every ``fact:…`` token of
    the previous summary and the evicted messages (kept in order, without repeats)."""
    facts = list(dict.fromkeys(FACT.findall(prompt)))
    folded = prompt.count("\n") - 3
    text = f"Summary ({max(folded, 0)} lines folded). Facts: {' '.join(facts) or 'none'}."
    if len(text) > max_tokens * 4:
        text = text[: max_tokens * 4]
    return ModelResponse(
        content=text,
        stop_reason="end_turn",
        usage=Usage(input_tokens=text_tokens(prompt), output_tokens=text_tokens(text)),
        model=model,
    )


def answer(
    script: Sequence[Mapping[str, Any]],
    *,
    step: int,
    attempt: int,
    call_id_prefix: str,
    agent_id: str = "",
    latest_input: str = "",
    prompt_chars: int = 0,
    model: str = "scripted",
) -> ScriptedAnswer:
    """Answer call ``step`` (attempt ``attempt``) of a run from ``script``."""
    if step >= len(script):
        spec: Mapping[str, Any] = {"text": END_OF_SCRIPT}
    else:
        spec = script[step]
    fail = spec.get("fail")
    if fail == "always":
        return ScriptedAnswer(Outcome.ERRORED, error="scripted failure (always)")
    if isinstance(fail, list) and attempt <= len(fail):
        outcome = Outcome(fail[attempt - 1])
        error = f"scripted {outcome.value} on attempt {attempt}"
        return ScriptedAnswer(outcome, error=error)

    context = {"agent_id": agent_id, "step": str(step), "input": latest_input}
    calls_spec: list[Mapping[str, Any]] = []
    if "tool_calls" in spec:
        calls_spec = list(spec["tool_calls"])
    elif "tool" in spec:
        calls_spec = [spec]
    calls: list[ToolCall] = []
    out_chars = 0
    for i, call in enumerate(calls_spec):
        if "raw_arguments" in call:
            arguments = str(call["raw_arguments"])
        else:
            args = dict(_fill(call.get("args") or {}, context))
            if call.get("heartbeat") is not None:
                args["request_heartbeat"] = bool(call["heartbeat"])
            arguments = jsonfast.dumps(args)
        out_chars += len(arguments)
        calls.append(
            ToolCall(id=f"{call_id_prefix}_{i}", name=str(call["tool"]), arguments=arguments)
        )
    text = _fill(spec.get("text"), context) if "text" in spec else None
    if text is not None:
        out_chars += len(text)
    reasoning = spec.get("reasoning")
    response = ModelResponse(
        content=text,
        tool_calls=tuple(calls),
        reasoning=_fill(reasoning, context) if reasoning else None,
        stop_reason="tool_use" if calls else "end_turn",
        usage=Usage(
            input_tokens=_estimate_tokens(prompt_chars),
            output_tokens=_estimate_tokens(out_chars),
        ),
        model=model,
    )
    return ScriptedAnswer(Outcome.SUCCEEDED, response=response)
