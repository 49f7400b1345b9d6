"""Running an emulator by hand (`agentbatch emulate ...`): a start-up banner with the
address and the variables to export, the script in use, and an optional request log."""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentbatch.listening import bind_listener
from agentbatch.providers.scripted_model import validate_script
from agentbatch.testing.run_steps import DEFAULT_SCRIPT

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Dialect:
    """What a user exports to reach one emulator, and the model handle it serves."""

    base_var: str
    key_var: str
    path: str  # appended to the address to make the base URL the adapter takes
    model: str  # an example model handle
    admin: bool  # has the ``/_emulator/script`` and ``/_emulator/faults`` routes


DIALECTS = {
    "anthropic": Dialect("ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", "", "anthropic/test", True),
    "openai": Dialect("OPENAI_BASE_URL", "OPENAI_API_KEY", "/v1", "openai/test", True),
    "google": Dialect("GOOGLE_GEMINI_BASE_URL", "GEMINI_API_KEY", "", "google/test", True),
    "mistral": Dialect("MISTRAL_BASE_URL", "MISTRAL_API_KEY", "", "mistral/test", False),
    "openrouter": Dialect(
        "OPENROUTER_BASE_URL", "OPENROUTER_API_KEY", "/api/v1", "openrouter/openai/test", False
    ),
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
    d = DIALECTS[provider]
    lines = [
        f"agentbatch {provider} batch emulator on {url}",
        "  point agentbatch (or any official SDK) at it:",
        f"    export {d.base_var}={url}{d.path}",
        f"    export {d.key_var}=test        # any value",
        "    export AGENTBATCH_POLL_INTERVAL=1   # poll every second, not every 30 s",
        f"  then use models {d.model.rsplit('/', 1)[0]}/<any name>, e.g. "
        f"agentbatch agents create --name ada --model {d.model}",
        f"  script: {script}",
        "  request log: "
        + ("on" if logging_requests else "off (--log to print one line per request)"),
    ]
    if d.admin:
        lines.append("  replace the script: PUT /_emulator/script; faults: PUT /_emulator/faults")
    lines.append("  Ctrl-C stops it")
    return "\n".join(lines)


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


def listen(host: str, port: int) -> socket.socket:
    """The bound listening socket, or exit with a one-line error (port in use)."""
    try:
        return bind_listener(host, port)
    except OSError as exc:
        raise SystemExit(
            f"error: cannot listen on {host}:{port}: {exc.strerror or exc} "
            "(is another emulator running there? choose another --port)"
        ) from None


def serve(
    provider: str,
    app: App,
    *,
    host: str,
    port: int,
    script_label: str,
    log_requests: bool,
) -> None:
    """Bind the port, then print the banner and serve until Ctrl-C."""
    import uvicorn

    sock = listen(host, port)
    url = f"http://{host}:{port}"
    print(banner(provider, url, script_label, log_requests), flush=True)
    config = uvicorn.Config(
        request_log(app) if log_requests else app, host=host, port=port, log_level="warning"
    )
    uvicorn.Server(config).run(sockets=[sock])


def run_emulator(
    provider: str,
    make_app: Callable[[list[dict[str, Any]]], App],
    *,
    port: int,
    script_path: str | None,
    host: str = "127.0.0.1",
    log_requests: bool = False,
) -> None:
    """Every emulator's foreground ``main``: the script (the default: a memory edit, then a
    reply), the app made from it, served with the banner and the optional request log."""
    script, label = load_script(script_path)
    serve(
        provider,
        make_app(script),
        host=host,
        port=port,
        script_label=label,
        log_requests=log_requests,
    )
