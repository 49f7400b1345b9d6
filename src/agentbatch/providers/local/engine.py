"""The embedded model: SmolLM2-135M-Instruct through llama.cpp, in this process.

``generate`` answers one ``ModelRequest``. With tools it writes exactly one tool call,
constrained by a grammar built from the allowed tools' schemas, so the answer always parses
and names an allowed tool with valid arguments; without tools (or ``tool_choice="none"``) it
writes a short plain-text answer. The model is loaded once per process, lazily; a lock
serialises every use of it (a llama.cpp context is not thread-safe).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from agentbatch.domain.messages import ToolCall
from agentbatch.domain.model_io import ModelRequest, ModelResponse, Usage
from agentbatch.errors import AgentBatchError, ConfigError, ProviderError
from agentbatch.providers.local import grammar
from agentbatch.providers.local.amx import amx_is_unsafe, plain_cpu_weights
from agentbatch.providers.local.model_file import INSTALL_HINT, find_model_path
from agentbatch.providers.local.prompt import (
    IM_END,
    Turn,
    call_tail,
    fit_prompt,
    request_turns,
    with_tools,
)

logger = logging.getLogger(__name__)

MODEL_NAME = "smollm2"
N_CTX = 4096
DEFAULT_TEMPERATURE = 0.2
DEFAULT_SEED = 1234
TEXT_MAX_TOKENS = 160
_PROMPT_MARGIN = 16
THREADS_ENV = "AGENTBATCH_LOCAL_THREADS"

_lock = threading.RLock()
_llm: Any = None


class GenerationCanceled(AgentBatchError):
    """``should_stop`` said to stop while the model was generating."""


def thread_count() -> int:
    """llama.cpp threads: ``AGENTBATCH_LOCAL_THREADS``, else half the CPUs (at least one).

    llama.cpp's threads spin while they wait for each other, so when the machine is busy
    (the worker's own event loop, tools, other processes) one thread per core degrades
    badly. Measured on 2 cores, per tool call: 1 thread 1.1 s idle or busy; 2 threads
    0.8 s idle but 3 to 8 s busy.
    """
    configured = os.environ.get(THREADS_ENV)
    if configured:
        try:
            return max(1, int(configured))
        except ValueError as exc:
            raise ConfigError(f"{THREADS_ENV} must be an integer, got {configured!r}") from exc
    return max(1, (os.cpu_count() or 2) // 2)


def ensure_available() -> None:
    """ConfigError (with an install hint) unless llama.cpp and the model file are here."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise ConfigError(f"llama-cpp-python is not installed: {INSTALL_HINT}")
    find_model_path()


def _load_llama() -> Any:
    ensure_available()
    import llama_cpp

    path = find_model_path()
    started = time.monotonic()
    threads = thread_count()
    with plain_cpu_weights():
        llm = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=N_CTX,
            n_threads=threads,
            n_threads_batch=threads,
            seed=DEFAULT_SEED,
            verbose=False,
        )
    if getattr(llm.model_params, "use_extra_bufts", False) and amx_is_unsafe(llama_cpp.__version__):
        logger.warning("llama-cpp-python ignored use_extra_bufts=False (AMX builds may crash)")
    atexit.register(llm.close)  # freeing it in __del__ at interpreter exit fails noisily
    logger.info(
        "local model loaded",
        extra={
            "path": str(path),
            "threads": threads,
            "seconds": round(time.monotonic() - started, 2),
        },
    )
    return llm


def load_model() -> Any:
    """The process-wide ``llama_cpp.Llama`` (loaded on first use, closed at exit)."""
    global _llm
    with _lock:
        if _llm is None:
            _llm = _load_llama()
            atexit.register(_close_model)
        return _llm


def _close_model() -> None:
    """Free the model while the interpreter still works: left to ``Llama.__del__`` at
    shutdown, llama-cpp-python prints "Exception ignored … NoneType object is not
    callable" (its module globals are already gone)."""
    global _llm
    with _lock:
        llm, _llm = _llm, None
    if llm is not None:
        with contextlib.suppress(Exception):
            llm.close()


def _count_tokens(llm: Any) -> Callable[[str], int]:
    def count(text: str) -> int:
        return len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    return count


def _stopping(should_stop: Callable[[], bool] | None) -> Any:
    if should_stop is None:
        return None
    import llama_cpp

    return llama_cpp.StoppingCriteriaList([lambda _ids, _logits: should_stop()])


def _complete(
    llm: Any,
    request: ModelRequest,
    system: Turn,
    tail: list[Turn],
    *,
    max_tokens: int,
    should_stop: Callable[[], bool] | None,
    **kwargs: Any,
) -> dict[str, Any]:
    _, turns = request_turns(request)
    budget = N_CTX - max_tokens - _PROMPT_MARGIN
    fitted = fit_prompt(system, turns, _count_tokens(llm), budget, tail)
    if fitted is None:
        raise ProviderError(
            f"the request does not fit the local model's {N_CTX}-token context window"
        )
    prompt, dropped = fitted
    if dropped:
        logger.debug("local prompt truncated", extra={"dropped_turns": dropped})
    temperature = DEFAULT_TEMPERATURE if request.temperature is None else request.temperature
    completion: dict[str, Any] = llm.create_completion(
        prompt,
        max_tokens=max_tokens,
        temperature=temperature,
        seed=int(request.options.get("seed", DEFAULT_SEED)),
        stopping_criteria=_stopping(should_stop),
        **kwargs,
    )
    if should_stop is not None and should_stop():
        raise GenerationCanceled("generation was canceled")
    return completion


def _usage(completion: dict[str, Any]) -> Usage:
    usage = completion.get("usage") or {}
    return Usage(
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
    )


def _text_completion(
    llm: Any, request: ModelRequest, max_tokens: int, should_stop: Callable[[], bool] | None
) -> dict[str, Any]:
    system, _ = request_turns(request)
    return _complete(
        llm, request, system, [], max_tokens=max_tokens, should_stop=should_stop, stop=[IM_END]
    )


def _text_of(completion: dict[str, Any]) -> str:
    return str(completion["choices"][0].get("text") or "").strip()


def _tool_call(
    llm: Any, request: ModelRequest, should_stop: Callable[[], bool] | None
) -> ModelResponse:
    import llama_cpp

    schema = grammar.call_schema(request.tools)
    compiled = llama_cpp.LlamaGrammar.from_string(grammar.gbnf(schema), verbose=False)
    system, _ = request_turns(request)
    completion = _complete(
        llm,
        request,
        with_tools(system, request.tools),
        call_tail(),
        max_tokens=grammar.output_token_cap(schema),
        should_stop=should_stop,
        grammar=compiled,
    )
    choice = completion["choices"][0]
    text = str(choice.get("text") or "")
    try:
        call = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProviderError(
            f"local model wrote an incomplete tool call ({choice.get('finish_reason')}): "
            f"{text[:120]!r}"
        ) from exc
    allowed = {t.name for t in request.tools}
    if not isinstance(call, dict) or call.get("name") not in allowed:
        raise ProviderError(f"local model called a tool that is not allowed: {text[:120]!r}")
    arguments = json.dumps(call.get("arguments") or {}, ensure_ascii=False)
    call_id = f"call_{uuid.uuid4().hex[:24]}"
    return ModelResponse(
        tool_calls=(ToolCall(id=call_id, name=call["name"], arguments=arguments),),
        usage=_usage(completion),
        model=MODEL_NAME,
        stop_reason="tool_use",
    )


def _text(llm: Any, request: ModelRequest, should_stop: Callable[[], bool] | None) -> ModelResponse:
    max_tokens = max(1, min(request.max_tokens, TEXT_MAX_TOKENS))
    completion = _text_completion(llm, request, max_tokens, should_stop)
    truncated = completion["choices"][0].get("finish_reason") == "length"
    return ModelResponse(
        content=_text_of(completion),
        usage=_usage(completion),
        model=MODEL_NAME,
        stop_reason="max_tokens" if truncated else "end_turn",
    )


def generate(
    request: ModelRequest, *, should_stop: Callable[[], bool] | None = None
) -> ModelResponse:
    """Answer ``request`` with the embedded model (blocking; seconds on a small CPU).

    Raises ConfigError when the model is not installed, ProviderError when the request
    cannot be answered, GenerationCanceled when ``should_stop`` returned True.
    """
    with _lock:
        llm = load_model()
        started = time.monotonic()
        if request.tools and request.tool_choice != "none":
            response = _tool_call(llm, request, should_stop)
        else:
            response = _text(llm, request, should_stop)
    logger.debug(
        "local generation",
        extra={
            "seconds": round(time.monotonic() - started, 3),
            "input_tokens": response.usage.input_tokens,
            "output_tokens": response.usage.output_tokens,
        },
    )
    return response
