"""Letta's Agent File (``.af``, ``AgentFileSchema`` of ``letta/schemas/agent_file.py``) as
pydantic models: the fields agentbatch reads are typed and size-limited, everything else is
kept (``extra="allow"``) so that the importer can report what it does not carry over.

A file is ``{"agents": [...], "blocks": [...], "tools": [...], "groups": [...], "files":
[...], "sources": [...], "mcp_servers": [...], "skills": [...], "metadata": {...}}`` with
file-local ids (``agent-0``, ``block-0``, ``tool-0``, ``message-0``). ``parse`` validates a
decoded file against these models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
)

MAX_AGENTS = 10_000
MAX_MESSAGES = 1_000_000
MAX_TEXT = 10_000_000  # one message, block value or tool source
LETTA_BLOCK_LIMIT = 100_000  # CORE_MEMORY_BLOCK_CHAR_LIMIT, Letta's default block limit

Id = Annotated[str, Field(min_length=1, max_length=200)]
ToolName = Annotated[str, Field(min_length=1, max_length=64)]
Text = Annotated[str, Field(max_length=MAX_TEXT)]
TagText = Annotated[str, Field(max_length=200)]


class _Open(BaseModel):
    """Typed where we read, open elsewhere: unknown fields are kept for the report."""

    model_config = ConfigDict(extra="allow")


# -- content parts (letta/schemas/letta_message_content.py) ----------------------------------


class TextPart(_Open):
    type: Literal["text"] = "text"
    text: Text
    signature: str | None = None


class ReasoningPart(_Open):
    type: Literal["reasoning"] = "reasoning"
    reasoning: Text
    is_native: bool = True
    signature: str | None = None


class ToolCallPart(_Open):
    type: Literal["tool_call"] = "tool_call"
    id: Annotated[str, Field(min_length=1, max_length=128)]
    name: ToolName
    input: dict[str, Any] = Field(default_factory=dict)


class ToolReturnPart(_Open):
    type: Literal["tool_return"] = "tool_return"
    tool_call_id: Annotated[str, Field(min_length=1, max_length=128)]
    content: Text
    is_error: bool = False


class OtherPart(_Open):
    """Images, redacted / omitted / summarized reasoning and future kinds: not carried."""

    type: Annotated[str, Field(max_length=100)]


def _part_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in ("text", "reasoning", "tool_call", "tool_return") else "other"


ContentPart = Annotated[
    Annotated[TextPart, Tag("text")]
    | Annotated[ReasoningPart, Tag("reasoning")]
    | Annotated[ToolCallPart, Tag("tool_call")]
    | Annotated[ToolReturnPart, Tag("tool_return")]
    | Annotated[OtherPart, Tag("other")],
    Discriminator(_part_tag),
]


# -- messages (letta/schemas/message.py, MessageSchema of agent_file.py) ----------------------


class FunctionCall(_Open):
    name: ToolName
    arguments: Text = "{}"

    @field_validator("arguments", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        import json

        return json.dumps(value) if isinstance(value, dict) else value


class ToolCallFile(_Open):
    """An OpenAI-style tool call, as Letta stores them on assistant messages."""

    id: Annotated[str, Field(min_length=1, max_length=128)]
    type: str = "function"
    function: FunctionCall


class ToolReturnFile(_Open):
    tool_call_id: Annotated[str, Field(max_length=128)] | None = None
    status: Literal["success", "error"]
    func_response: Text | list[ContentPart] | None = None
    stdout: list[str] | None = None
    stderr: list[str] | None = None

    @field_validator("tool_call_id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        return None if value is None else str(value)


class MessageFile(_Open):
    id: Id
    role: Literal["system", "user", "assistant", "tool", "function", "approval", "summary"]
    content: Text | list[ContentPart] | None = None
    name: Annotated[str, Field(max_length=200)] | None = None
    tool_calls: list[ToolCallFile] | None = None
    tool_call_id: Annotated[str, Field(max_length=128)] | None = None
    tool_returns: list[ToolReturnFile] | None = None
    created_at: datetime | None = None


# -- tool rules (letta/schemas/tool_rule.py) ---------------------------------------------------


class _Rule(_Open):
    tool_name: ToolName
    prompt_template: str | None = None


class InitRule(_Rule):
    type: Literal["run_first"]
    args: dict[str, Any] | None = None


class TerminalRule(_Rule):
    type: Literal["exit_loop"]


class ContinueRule(_Rule):
    type: Literal["continue_loop"]


class ChildRule(_Rule):
    type: Literal["constrain_child_tools"]
    children: Annotated[list[ToolName], Field(min_length=1)]
    child_arg_nodes: list[dict[str, Any]] | None = None


class ParentRule(_Rule):
    type: Literal["parent_last_tool"]
    children: Annotated[list[ToolName], Field(min_length=1)]


class ConditionalRule(_Rule):
    type: Literal["conditional"]
    default_child: ToolName | None = None
    child_output_mapping: Annotated[dict[str, ToolName], Field(min_length=1)]
    require_output_mapping: bool = False


class MaxCountRule(_Rule):
    type: Literal["max_count_per_step"]
    max_count_limit: Annotated[int, Field(ge=1, le=1_000_000)]


class RequiredBeforeExitRule(_Rule):
    type: Literal["required_before_exit"]


class RequiresApprovalRule(_Rule):
    type: Literal["requires_approval"]


RuleFile = Annotated[
    InitRule
    | TerminalRule
    | ContinueRule
    | ChildRule
    | ParentRule
    | ConditionalRule
    | MaxCountRule
    | RequiredBeforeExitRule
    | RequiresApprovalRule,
    Field(discriminator="type"),
]


# -- blocks, tools, model ---------------------------------------------------------------------


class BlockBody(_Open):
    label: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_\-]+$")]
    value: Text = ""
    limit: Annotated[int, Field(ge=1, le=1_000_000)] = LETTA_BLOCK_LIMIT
    description: Annotated[str, Field(max_length=100_000)] | None = None
    read_only: bool = False

    @field_validator("value", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value


class BlockFile(BlockBody):
    id: Id


class PipRequirement(_Open):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    version: Annotated[str, Field(max_length=100)] | None = None


class ToolFile(_Open):
    id: Id
    name: ToolName | None = None
    tool_type: Annotated[str, Field(max_length=100)] = "custom"
    description: Text | None = None
    source_type: Annotated[str, Field(max_length=100)] | None = None
    source_code: Text | None = None
    json_schema: dict[str, Any] | None = None
    pip_requirements: list[PipRequirement] | None = None
    metadata_: dict[str, Any] | None = None


class LlmConfig(_Open):
    model: Annotated[str, Field(min_length=1, max_length=200)]
    model_endpoint_type: Annotated[str, Field(max_length=100)] | None = None
    handle: Annotated[str, Field(max_length=200)] | None = None
    max_tokens: Annotated[int, Field(ge=1, le=10_000_000)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None


class AgentFile(_Open):
    id: Id
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    system: Text | None = None
    agent_type: Annotated[str, Field(max_length=100)] | None = None
    model: Annotated[str, Field(max_length=200)] | None = None
    llm_config: LlmConfig | None = None
    model_settings: dict[str, Any] | None = None
    block_ids: list[Id] | None = None
    memory_blocks: list[BlockBody] | None = None
    tool_ids: list[Id] | None = None
    tools: list[ToolName] | None = None
    tool_rules: list[RuleFile] | None = None
    tags: Annotated[list[TagText], Field(max_length=1000)] | None = None
    include_base_tools: bool = True
    message_buffer_autoclear: bool = False
    metadata: dict[str, Any] | None = None
    description: Text | None = None
    secrets: dict[str, str | None] | None = None
    tool_exec_environment_variables: dict[str, str | None] | None = None
    messages: Annotated[list[MessageFile], Field(max_length=MAX_MESSAGES)] = Field(
        default_factory=list
    )
    in_context_message_ids: list[Id] = Field(default_factory=list)


class AgentFileDoc(_Open):
    agents: Annotated[list[AgentFile], Field(min_length=1, max_length=MAX_AGENTS)]
    blocks: list[BlockFile] = Field(default_factory=list)
    tools: list[ToolFile] = Field(default_factory=list)
    groups: list[dict[str, Any]] = Field(default_factory=list)
    files: list[dict[str, Any]] = Field(default_factory=list)
    sources: list[dict[str, Any]] = Field(default_factory=list)
    mcp_servers: list[dict[str, Any]] = Field(default_factory=list)
    skills: list[dict[str, Any]] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime | None = None
