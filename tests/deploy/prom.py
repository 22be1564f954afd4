"""A real Prometheus server for tests: temp config and storage, loopback only, always stopped.

It scrapes only the 127.0.0.1 targets it is given, every `scrape_interval`; `find_prometheus`
installs Debian's package through scripts/ensure_prometheus.sh when the binary is absent.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import yaml

from service.live import free_port
from tests.deploy.dashboards import REPO


def find_prometheus() -> str | None:
    """The prometheus binary, installing it (scripts/ensure_prometheus.sh) when absent."""
    found = shutil.which("prometheus")
    if found:
        return found
    subprocess.run(["bash", str(REPO / "scripts" / "ensure_prometheus.sh")], timeout=600, check=False)
    return shutil.which("prometheus")


class PrometheusServer:
    def __init__(self, binary: str, workdir: Path, targets: list[str], scrape_interval: str = "1s"):
        for t in targets:
            assert t.startswith("127.0.0.1:"), f"tests scrape loopback targets only, not {t}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        config = {
            "global": {"scrape_interval": scrape_interval, "scrape_timeout": scrape_interval,
                       "evaluation_interval": scrape_interval},
            "scrape_configs": [{"job_name": "taosr1", "static_configs": [{"targets": targets}]}],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = workdir / "prometheus.log"
        self.cmd = [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            "--storage.tsdb.retention.time=1h",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> None:
        self.proc = subprocess.Popen(self.cmd, stdout=self.log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"prometheus not ready after {timeout}s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    # -- HTTP API ---------------------------------------------------------------------------
    def _get(self, path: str, **params) -> dict:
        r = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = r.json()
        if body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict]:
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        return self._get("query", **params)["result"]

    def query_range(self, expr: str, start: float, end: float, step: float = 1.0) -> list[dict]:
        return self._get("query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=str(step))["result"]

    def metric_names(self) -> set[str]:
        return set(self._get("label/__name__/values"))

    def scalar(self, expr: str) -> float:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else math.nan


def finite_values(result: list[dict]) -> list[float]:
    """Every finite sample of an instant ("value") or range ("values") query result."""
    out = []
    for series in result:
        samples = series.get("values") or ([series["value"]] if "value" in series else [])
        out += [float(v) for _, v in samples if math.isfinite(float(v))]
    return out
