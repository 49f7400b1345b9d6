"""Serve the API with uvicorn: in the foreground (``agentbatch serve``) or in a background
thread (tests, notebooks), in both cases with the app's lifespan (store, in-process worker)."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from agentbatch.testing.server import free_port


def serve(app: Any, host: str, port: int, *, log_level: str = "info") -> None:
    """Run until SIGINT/SIGTERM; uvicorn stops the lifespan (and its worker) cleanly."""
    uvicorn.run(app, host=host, port=port, log_level=log_level, lifespan="on")


class ThreadedServer:
    """``with ThreadedServer(app) as srv: httpx.get(srv.url + "/v1/health")``."""

    def __init__(self, app: Any, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port or free_port()
        config = uvicorn.Config(app, host=host, port=self.port, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="agentbatch-api", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> ThreadedServer:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                self.stop()
                raise RuntimeError(f"the API server did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
