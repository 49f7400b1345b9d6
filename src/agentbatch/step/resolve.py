"""Resolve a model response into executed tool calls, messages and a continuation decision.

Tool calls run in the order the model gave them. Each call is checked (JSON arguments, known
tool, allowed by the rules, arguments fit the schema) and executed through a ``ToolRunner``;
a call that fails any check becomes a failed tool result the model sees on its next step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from agentbatch import jsonfast
from agentbatch.domain.agents import AgentSpec
from agentbatch.domain.messages import Message, ToolCall
from agentbatch.domain.model_io import ModelResponse
from agentbatch.domain.text import storable_value
from agentbatch.step.prepare import HEARTBEAT_ARG, ToolCatalog
from agentbatch.step.solver import RuleSet, SolverState
from agentbatch.tools.args import check_arguments
from agentbatch.tools.builtins import ToolResult


class ToolRunner(Protocol):
    def run(self, agent: AgentSpec, call: ToolCall, args: dict[str, Any]) -> ToolResult | None:
        """Execute one checked call; ``None`` if its result is not available yet (a tool that
        runs outside the pass, such as a sandboxed one: the caller fetches it and retries)."""
        ...


class ResultPending(Exception):
    """A call's result must be produced asynchronously before the step can resolve."""

    def __init__(self, call: ToolCall, args: dict[str, Any]) -> None:
        super().__init__(call.name)
        self.call = call
        self.arguments = args


@dataclass(slots=True)
class StepOutcome:
    assistant: Message
    tool_messages: list[Message]
    state: SolverState
    done: bool
    stop_reason: str  # final_reply | terminal_tool | max_steps | end_turn | "" (continuing)
    heartbeat: Message | None = None
    reply: str | None = None
    tools_called: list[str] = field(default_factory=list)
    failed_calls: int = 0


def tool_message(call: ToolCall, result: ToolResult) -> Message:
    # the same JSON as json.dumps({"status": ..., "message": ...}), without the dict walk
    status = '"OK"' if result.ok else '"Failed"'
    content = f'{{"status": {status}, "message": {jsonfast.dumps(result.output)}}}'
    return Message(
        role="tool",
        content=content,
        tool_call_id=call.id,
        name=call.name,
        is_error=not result.ok,
        kind="tool",
    )


@lru_cache(maxsize=256)
def heartbeat_message(reason: str) -> Message:
    """Messages are immutable: the few distinct heartbeats are built once."""
    body = {"type": "heartbeat", "reason": f"[automated system message] {reason}"}
    return Message(role="user", content=json.dumps(body), kind="heartbeat")


def _parse_args(call: ToolCall) -> tuple[dict[str, Any] | None, str | None]:
    try:
        args = jsonfast.loads(call.arguments) if call.arguments.strip() else {}
    except (ValueError, AttributeError) as exc:  # orjson.JSONDecodeError is a ValueError
        return None, f"arguments are not valid JSON ({getattr(exc, 'msg', exc)})"
    if not isinstance(args, dict):
        return None, "arguments must be a JSON object"
    if "\\u" in call.arguments:  # escapes may decode to NUL or lone surrogates
        args = storable_value(args)
    return args, None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def resolve_step(
    agent: AgentSpec,
    rules: RuleSet,
    state: SolverState,
    response: ModelResponse,
    *,
    catalog: ToolCatalog,
    runner: ToolRunner,
    steps_done: int,
    max_steps: int,
) -> StepOutcome:
    """``steps_done`` counts model calls in the run including this one."""
    assistant = Message(
        role="assistant",
        content=response.content,
        reasoning=response.reasoning,
        reasoning_signature=response.reasoning_signature,
        tool_calls=response.tool_calls,
        kind="assistant",
    )
    out = StepOutcome(
        assistant=assistant, tool_messages=[], state=state, done=False, stop_reason=""
    )
    if not response.tool_calls:
        can_call = bool(rules.allowed(agent.tool_names, state))
        return _text_answer(out, rules, response, steps_done, max_steps, can_call)

    heartbeat = forced = terminal = False
    for call in response.tool_calls:
        args, problem = _parse_args(call)
        ran = False
        if args is not None:
            heartbeat |= _truthy(args.pop(HEARTBEAT_ARG, False))
            allowed = rules.allowed(agent.tool_names, out.state)
            if call.name not in agent.tool_names or call.name not in catalog:
                problem = f"unknown tool {call.name!r}; your tools: {', '.join(agent.tool_names)}"
            elif call.name not in allowed:
                problem = (
                    f"tool {call.name!r} is not allowed now by your tool rules; "
                    f"allowed: {', '.join(allowed) or 'none'}"
                )
            else:
                problem = check_arguments(catalog.specs[call.name].parameters, args)
        if problem is None and args is not None:
            result = runner.run(agent, call, args)
            if result is None:
                raise ResultPending(call, args)
            ran = True
        else:
            result = ToolResult(False, f"Error calling {call.name}: {problem}")
        out.tool_messages.append(tool_message(call, result))
        if not result.ok:
            out.failed_calls += 1
        if ran:
            out.state = out.state.after_call(call.name, result.output)
            out.tools_called.append(call.name)
            terminal |= rules.is_terminal(call.name)
            forced |= rules.forces_continue(call.name)
            if call.name == "send_message" and result.ok and args is not None:
                out.reply = str(args.get("message", ""))
    if response.content and out.reply is None:
        out.reply = response.content

    if terminal:
        return _finish(out, "terminal_tool")
    missing = rules.missing_before_exit(out.state)
    if out.failed_calls:
        reason = "The last tool call failed; see its result and try again."
    elif forced or heartbeat:
        reason = "Function called with request_heartbeat=true, returning control."
    elif missing:
        reason = f"You must call {', '.join(missing)} before you finish."
    else:
        return _finish(out, "end_turn")
    if steps_done >= max_steps:
        return _finish(out, "max_steps")
    return _continue(out, reason)


def _text_answer(
    out: StepOutcome,
    rules: RuleSet,
    response: ModelResponse,
    steps_done: int,
    max_steps: int,
    can_call: bool,
) -> StepOutcome:
    out.reply = response.content
    if steps_done < max_steps:
        missing = rules.missing_before_exit(out.state)
        if missing:
            return _continue(out, f"You must call {', '.join(missing)} before you finish.")
        if can_call and rules.must_call_tool(out.state):
            return _continue(out, "You must call a tool now.")
    return _finish(out, "final_reply")


def _finish(out: StepOutcome, reason: str) -> StepOutcome:
    out.done = True
    out.stop_reason = reason
    return out


def _continue(out: StepOutcome, reason: str) -> StepOutcome:
    out.heartbeat = heartbeat_message(reason)
    return out
