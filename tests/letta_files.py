"""Agent Files written by hand from Letta's published schema (``AgentFileSchema`` of
letta/schemas/agent_file.py on Letta's archive branch), shaped as a Letta server exports
them: file-local ids, every block in ``blocks`` with agents pointing at them through
``block_ids``, tools with ``tool_type``, the compiled system prompt as the first in-context
message, OpenAI-style tool calls and ``tool_returns`` on tool messages."""

from __future__ import annotations

import copy
import json
from typing import Any

WORD_COUNT = '''def word_count(text: str) -> int:
    """Count the words in a text.

    Args:
        text: The text to count.
    """
    return len(text.split())
'''

SHOUT = '''def shout(text: str, times: int = 1) -> str:
    """Repeat a text in capitals.

    Args:
        text: What to shout.
        times: How often.
    """
    return " ".join([text.upper()] * times)
'''


def _llm(handle: str, **extra: Any) -> dict[str, Any]:
    provider, _, model = handle.partition("/")
    return {
        "model": model,
        "model_endpoint_type": provider if provider in ("openai", "anthropic") else "openai",
        "model_endpoint": None,
        "provider_name": provider,
        "context_window": 200000,
        "put_inner_thoughts_in_kwargs": False,
        "handle": handle,
        "temperature": 0.5,
        "max_tokens": 2048,
        "enable_reasoner": True,
        "max_reasoning_tokens": 0,
        **extra,
    }


def _block(i: int, label: str, value: str, limit: int = 5000, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"block-{i}",
        "value": value,
        "limit": limit,
        "project_id": None,
        "template_name": None,
        "is_template": False,
        "preserve_on_migration": False,
        "label": label,
        "read_only": False,
        "description": f"The {label} block.",
        "metadata": {},
        "hidden": None,
        "tags": [],
        **extra,
    }


def _builtin(i: int, name: str, tool_type: str) -> dict[str, Any]:
    return {
        "id": f"tool-{i}",
        "tool_type": tool_type,
        "description": f"Letta's {name}.",
        "source_type": "python",
        "name": name,
        "tags": [tool_type],
        "source_code": None,
        "json_schema": {"name": name, "description": "", "parameters": {"type": "object"}},
        "args_json_schema": None,
        "return_char_limit": 50000,
        "pip_requirements": None,
        "npm_requirements": None,
        "default_requires_approval": None,
        "enable_parallel_execution": False,
        "metadata_": {},
    }


def _custom(i: int, name: str, source: str, params: dict[str, Any]) -> dict[str, Any]:
    tool = _builtin(i, name, "custom")
    tool.update(
        description=f"{name} (custom)",
        source_code=source,
        tags=[],
        json_schema={"name": name, "description": f"{name} (custom)", "parameters": params},
        pip_requirements=[{"name": "regex", "version": "2024.11.6"}],
    )
    return tool


def _msg(mid: int, role: str, text: str | None, at: str, **extra: Any) -> dict[str, Any]:
    content = [{"type": "text", "text": text, "signature": None}] if text is not None else []
    return {
        "type": "message",
        "id": f"message-{mid}",
        "role": role,
        "content": content,
        "name": None,
        "otid": None,
        "sender_id": None,
        "batch_item_id": None,
        "group_id": None,
        "model": "gpt-4.1-mini",
        "agent_id": "agent-0",
        "tool_calls": None,
        "tool_call_id": None,
        "tool_returns": None,
        "created_at": f"2025-06-01T10:{at}+00:00",
        "approve": None,
        "approval_request_id": None,
        "denial_reason": None,
        "approvals": None,
        **extra,
    }


def _call(cid: str, name: str, **args: Any) -> dict[str, Any]:
    return {
        "id": cid,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(args)},
    }


def _ret(cid: str, text: str, status: str = "success") -> dict[str, Any]:
    return {
        "tool_call_id": cid,
        "status": status,
        "stdout": None,
        "stderr": None,
        "func_response": text,
    }


def _ok(message: str) -> str:
    return json.dumps({"status": "OK", "message": message, "time": "2025-06-01 10:00:00 AM UTC"})


def history() -> list[dict[str, Any]]:
    """ada's history: an old exchange out of context, then a window with a step of two
    parallel tool calls (one failing), a heartbeat, and a reply through send_message."""
    heartbeat = json.dumps(
        {
            "type": "heartbeat",
            "reason": "[This is an automated system message hidden from the "
            "user] Function called using request_heartbeat=true, returning control",
        }
    )
    return [
        _msg(0, "system", "You are Ada. (compiled with memory)", "00:00"),
        _msg(1, "user", "Hello from last week", "00:01"),
        _msg(2, "assistant", "Said hello back.", "00:02"),
        _msg(3, "user", "Remember that I drink green tea and count my words.", "01:00"),
        _msg(
            4,
            "assistant",
            None,
            "01:01",
            content=[
                {
                    "type": "reasoning",
                    "is_native": True,
                    "reasoning": "Two things to do.",
                    "signature": "sig-1",
                },
                {"type": "text", "text": "Saving both.", "signature": None},
            ],
            tool_calls=[
                _call(
                    "call_a",
                    "core_memory_append",
                    label="human",
                    content="drinks green tea",
                    request_heartbeat=True,
                ),
                _call("call_b", "word_count", text="count my words", request_heartbeat=True),
            ],
        ),
        _msg(
            5,
            "tool",
            None,
            "01:02",
            content=[
                {"type": "text", "text": _ok("None"), "signature": None},
                {"type": "text", "text": _ok("3"), "signature": None},
            ],
            name="core_memory_append",
            tool_call_id="call_a",
            tool_calls=[],
            tool_returns=[_ret("call_a", _ok("None")), _ret("call_b", _ok("3"))],
        ),
        _msg(6, "user", heartbeat, "01:03"),
        _msg(
            7,
            "assistant",
            None,
            "01:04",
            tool_calls=[
                _call(
                    "call_c", "send_message", message="Noted: green tea.", request_heartbeat=False
                )
            ],
        ),
        _msg(
            8,
            "tool",
            _ok("None"),
            "01:05",
            name="send_message",
            tool_call_id="call_c",
            tool_calls=[],
            tool_returns=[_ret("call_c", _ok("None"))],
        ),
    ]


WORD_COUNT_PARAMS = {
    "type": "object",
    "properties": {"text": {"type": "string", "description": "The text to count."}},
    "required": ["text"],
}
SHOUT_PARAMS = {
    "type": "object",
    "properties": {
        "text": {"type": "string", "description": "What to shout."},
        "times": {"type": "integer", "description": "How often.", "default": 1},
    },
    "required": ["text"],
}

# every rule kind both Letta and agentbatch have, on bob's tools
BOB_RULES = [
    {"tool_name": "word_count", "type": "run_first", "prompt_template": None, "args": None},
    {"tool_name": "send_message", "type": "exit_loop", "prompt_template": None},
    {"tool_name": "core_memory_append", "type": "continue_loop", "prompt_template": None},
    {
        "tool_name": "word_count",
        "type": "constrain_child_tools",
        "prompt_template": None,
        "children": ["shout", "core_memory_append"],
        "child_arg_nodes": None,
    },
    {
        "tool_name": "shout",
        "type": "conditional",
        "prompt_template": None,
        "default_child": "send_message",
        "child_output_mapping": {"HI": "core_memory_append"},
        "require_output_mapping": False,
    },
    {
        "tool_name": "word_count",
        "type": "parent_last_tool",
        "prompt_template": None,
        "children": ["shout"],
    },
    {
        "tool_name": "shout",
        "type": "max_count_per_step",
        "prompt_template": None,
        "max_count_limit": 2,
    },
    {"tool_name": "core_memory_append", "type": "required_before_exit", "prompt_template": None},
]


def agent_file(handle: str = "openai/gpt-4.1-mini") -> dict[str, Any]:
    """Two agents sharing a block, custom tools, every shared rule kind, parallel calls."""
    agent = {
        "name": "ada",
        "memory_blocks": [],
        "tools": [],
        "tool_ids": ["tool-0", "tool-1", "tool-2", "tool-3"],
        "source_ids": [],
        "folder_ids": None,
        "block_ids": ["block-0", "block-2"],
        "tool_rules": [
            {"tool_name": "send_message", "type": "exit_loop", "prompt_template": None},
            {
                "tool_name": "word_count",
                "type": "max_count_per_step",
                "prompt_template": None,
                "max_count_limit": 3,
            },
        ],
        "tags": ["letta", "tea"],
        "system": "You are Ada, a helpful assistant with memory.",
        "agent_type": "memgpt_v2_agent",
        "llm_config": _llm(handle),
        "embedding_config": None,
        "initial_message_sequence": None,
        "include_base_tools": False,
        "include_multi_agent_tools": False,
        "include_base_tool_rules": False,
        "include_default_source": False,
        "description": None,
        "metadata": {"team": "blue"},
        "model": None,
        "message_buffer_autoclear": False,
        "enable_sleeptime": False,
        "response_format": None,
        "timezone": "UTC",
        "id": "agent-0",
        "in_context_message_ids": [f"message-{i}" for i in (0, 3, 4, 5, 6, 7, 8)],
        "messages": history(),
        "files_agents": [],
        "group_ids": [],
    }
    bob = {
        **agent,
        "id": "agent-1",
        "name": "bob",
        "tool_ids": ["tool-0", "tool-1", "tool-2", "tool-3"],
        "block_ids": ["block-1", "block-2"],
        "tool_rules": copy.deepcopy(BOB_RULES),
        "tags": ["letta"],
        "system": "You are Bob.",
        "metadata": {},
        "llm_config": _llm("anthropic/claude-sonnet-4-5", temperature=0.2),
        "message_buffer_autoclear": True,
        "messages": [
            {**_msg(9, "system", "You are Bob. (compiled)", "00:00"), "agent_id": "agent-1"}
        ],
        "in_context_message_ids": ["message-9"],
    }
    return {
        "agents": [agent, bob],
        "groups": [],
        "blocks": [
            _block(0, "human", "Name: Ada's user"),
            _block(1, "persona", "I am Bob.", limit=2000),
            _block(2, "team", "Shared notes:", limit=20000, read_only=False),
        ],
        "files": [],
        "sources": [],
        "tools": [
            _builtin(0, "send_message", "letta_core"),
            _builtin(1, "core_memory_append", "letta_memory_core"),
            _custom(2, "word_count", WORD_COUNT, WORD_COUNT_PARAMS),
            _custom(3, "shout", SHOUT, SHOUT_PARAMS),
        ],
        "mcp_servers": [],
        "skills": [],
        "metadata": {"revision_id": "ffb17eb241fc"},
        "created_at": "2025-06-01T12:00:00+00:00",
    }
