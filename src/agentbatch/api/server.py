"""Serve the API with uvicorn: in the foreground (``agentbatch serve``) or in a background
thread (tests, notebooks), in both cases with the app's lifespan (store, in-process worker)."""

from __future__ import annotations

import socket
from typing import Any

import uvicorn

from agentbatch.testing.server import BackgroundServer


def serve(
    app: Any,
    host: str,
    port: int,
    *,
    log_level: str = "info",
    sock: socket.socket | None = None,
) -> None:
    """Run until SIGINT/SIGTERM; uvicorn stops the lifespan (and its worker) cleanly.
    ``sock``: a listening socket bound beforehand (:func:`agentbatch.listening.bind_listener`).
    With ``AGENTBATCH_LOG_FORMAT=json`` uvicorn's own lines go through our JSON handler."""
    from agentbatch.observability.settings import ObservabilitySettings

    json_logs = ObservabilitySettings.from_env().log_format == "json"
    extra: dict[str, Any] = {"log_config": None} if json_logs else {}
    if json_logs:
        import logging

        logging.getLogger().setLevel(logging.INFO)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on", **extra)
    uvicorn.Server(config).run(sockets=[sock] if sock is not None else None)


class ThreadedServer(BackgroundServer):
    """``with ThreadedServer(app) as srv: httpx.get(srv.url + "/v1/health")``: the API in
    a background thread, with its lifespan (store, worker) running."""

    def __init__(self, app: Any, port: int | None = None, host: str = "127.0.0.1") -> None:
        super().__init__(app, port=port, host=host, lifespan=True)
