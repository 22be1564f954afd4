"""Run the real app under uvicorn on a free loopback port, in a background thread (tests and benchmarks)."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager

import httpx
import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    def __init__(self, app, port: int):
        self.app = app
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def client(self, **kw) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=kw.pop("timeout", 120), **kw)

    def wait_until_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"server at {self.url} not ready after {timeout}s")

    def wait_until_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.url}/healthz", timeout=2)
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise TimeoutError(f"server at {self.url} not up after {timeout}s")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)


@contextmanager
def live_server(settings, ready: bool = True):
    """Start `create_app(settings)` on settings.port; yields the LiveServer; always stops it."""
    from service.app import create_app

    srv = LiveServer(create_app(settings), settings.port)
    srv.thread.start()
    try:
        srv.wait_until_ready() if ready else srv.wait_until_up()
        yield srv
    finally:
        srv.stop()
