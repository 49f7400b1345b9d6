"""Running an emulator by hand (`agentbatch emulate ...`): a start-up banner with the
address and the variables to export, the script in use, and an optional request log."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from agentbatch.providers.scripted_model import validate_script
from agentbatch.testing.run_steps import DEFAULT_SCRIPT

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

ENV = {
    "anthropic": ("ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", ""),
    "openai": ("OPENAI_BASE_URL", "OPENAI_API_KEY", "/v1"),
}


def load_script(path: str | None) -> tuple[list[dict[str, Any]], str]:
    """(script, how to describe it): the file's, or the default (a memory edit, a reply)."""
    if path is None:
        return [dict(s) for s in DEFAULT_SCRIPT], (
            "default: core_memory_append(human, the input) then the reply 'Noted: <input>'"
        )
    try:
        script = validate_script(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"error: --script {path}: {exc}") from None
    return script, f"{path} ({len(script)} steps)"


def banner(provider: str, url: str, script: str, logging_requests: bool) -> str:
    base_var, key_var, suffix = ENV[provider]
    return "\n".join(
        [
            f"agentbatch {provider} batch emulator on {url}",
            "  point agentbatch (or any official SDK) at it:",
            f"    export {base_var}={url}{suffix}",
            f"    export {key_var}=test        # any value",
            f"  then use models {provider}/<any name>, e.g. agentbatch agents create --model {provider}/test",
            f"  script: {script}",
            "  request log: "
            + ("on" if logging_requests else "off (--log to print one line per request)"),
            "  replace the script: PUT /_emulator/script; faults: PUT /_emulator/faults",
            "  Ctrl-C stops it",
        ]
    )


def request_log(app: App, out: Any = None) -> App:
    """Wrap an ASGI app: one line per HTTP request (time, method, path, status, ms)."""
    stream = out or sys.stdout

    async def logged(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await app(scope, receive, send)
            return
        started = time.monotonic()
        status = [0]

        async def capture(message: MutableMapping[str, Any]) -> None:
            if message.get("type") == "http.response.start":
                status[0] = int(message.get("status", 0))
            await send(message)

        try:
            await app(scope, receive, capture)
        finally:
            ms = (time.monotonic() - started) * 1000
            stamp = time.strftime("%H:%M:%S")
            print(
                f"{stamp} {scope.get('method')} {scope.get('path')} -> {status[0]} ({ms:.0f} ms)",
                file=stream,
                flush=True,
            )

    return logged


def serve(
    provider: str,
    app: App,
    *,
    host: str,
    port: int,
    script_label: str,
    log_requests: bool,
) -> None:
    import uvicorn

    url = f"http://{host}:{port}"
    print(banner(provider, url, script_label, log_requests), flush=True)
    uvicorn.run(
        request_log(app) if log_requests else app, host=host, port=port, log_level="warning"
    )
