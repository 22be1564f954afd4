"""Lint of the deployment files: compose, k8s, Prometheus config, Dockerfiles, ensure_prometheus.sh.

Docker and Kubernetes do not run here, so these parse the files and check their wiring: ports,
probe paths, the mounted registry path, every TAOSR1_* name is a Settings field, the graceful
drain fits the termination grace period, and the Dockerfiles run the README's install script
and `taosr1.cli prepare`.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess

import pytest
import yaml

from service.settings import Settings
from tests.deploy.dashboards import DEPLOY, REPO

K8S = DEPLOY / "k8s"
PREFIX = "TAOSR1_"


def _check_settings_env(env: dict, where: str) -> None:
    fields = set(Settings.model_fields)
    for key in env:
        if key.startswith(PREFIX):
            assert key[len(PREFIX):].lower() in fields, f"{where}: {key} is not a setting (service/settings.py)"


def _drain_s(env: dict) -> float:
    """Longest SIGTERM → exit time (service/lifecycle.py): readiness-503 delay + in-flight drain timeout."""
    fields = Settings.model_fields
    delay = float(env.get("TAOSR1_DRAIN_DELAY_S", fields["drain_delay_s"].default))
    timeout = float(env.get("TAOSR1_DRAIN_TIMEOUT_S", fields["drain_timeout_s"].default))
    return delay + timeout


# --- docker compose ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def test_compose_services_and_wiring(compose):
    services = compose["services"]
    assert {"taosr1", "prometheus", "grafana"} <= set(services)
    for name in ("taosr1", "taosr1-gpu"):
        svc = services[name]
        env = svc["environment"]
        _check_settings_env(env, f"compose {name}")
        assert env["TAOSR1_HOST"] == "0.0.0.0"
        port = env["TAOSR1_PORT"]
        assert any(p.split(":")[-1] == port for p in svc["ports"]), (name, svc["ports"])
        registry = env["TAOSR1_REGISTRY_DIR"]
        assert any(v.split(":")[1] == registry for v in svc["volumes"]), f"{name}: registry not mounted at {registry}"
        dockerfile = REPO / DEPLOY.relative_to(REPO) / svc["build"]["context"] / svc["build"]["dockerfile"]
        assert dockerfile.resolve().is_file(), dockerfile
        grace = int(re.fullmatch(r"(\d+)s", svc["stop_grace_period"]).group(1))
        assert grace >= _drain_s(env) + 5, f"{name}: stop_grace_period {grace}s does not cover the drain"
    assert "profiles" not in services["taosr1"], "the CPU service is the default"
    gpu = services["taosr1-gpu"]
    assert gpu["profiles"] == ["gpu"]
    assert gpu["environment"]["TAOSR1_ENGINE"] == "vllm"
    # the GPU service talks to the vLLM sidecar that the profile adds, which has the GPU
    sidecar = services["vllm"]
    assert sidecar["profiles"] == ["gpu"] and gpu["depends_on"]["vllm"]["condition"] == "service_healthy"
    assert gpu["environment"]["TAOSR1_VLLM_MODE"] == "sidecar" and gpu["environment"]["TAOSR1_VLLM_START_SIDECAR"] == "false"
    flags = dict(a.removeprefix("--").split("=", 1) for a in sidecar["command"] if a.startswith("--") and "=" in a)
    assert gpu["environment"]["TAOSR1_VLLM_URL"] == f"http://vllm:{flags['port']}"
    assert {"--enable-prefix-caching", "--enable-lora"} <= set(sidecar["command"])
    assert flags["logprobs-mode"] == "processed_logprobs", "label log-probs must come back renormalised"
    assert flags["model"].startswith("/app/var/cache/models/"), "the image's prepared base model"
    registry = gpu["environment"]["TAOSR1_REGISTRY_DIR"]
    assert any(v.split(":")[1] == registry for v in sidecar["volumes"]), "vLLM must read adapters at the service's paths"
    devices = sidecar["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    for svc in services.values():
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith("."):
                assert (DEPLOY / src).exists(), f"compose mounts missing {src}"
            else:
                assert src in compose["volumes"], f"undeclared volume {src}"


def test_prometheus_config_scrapes_the_compose_services(compose):
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    mounted = [v for v in compose["services"]["prometheus"]["volumes"] if v.startswith("./prometheus.yml:")]
    assert mounted and mounted[0].split(":")[1] == "/etc/prometheus/prometheus.yml"
    assert "--config.file=/etc/prometheus/prometheus.yml" in compose["services"]["prometheus"]["command"]
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "taosr1")
    assert job.get("metrics_path", "/metrics") == "/metrics"
    sd = job["dns_sd_configs"][0]
    assert set(sd["names"]) == {"taosr1", "taosr1-gpu"} and set(sd["names"]) <= set(compose["services"])
    for name in sd["names"]:
        assert str(sd["port"]) == compose["services"][name]["environment"]["TAOSR1_PORT"]
    vllm_job = next(j for j in config["scrape_configs"] if j["job_name"] == "vllm")
    vllm_sd = vllm_job["dns_sd_configs"][0]
    assert vllm_sd["names"] == ["vllm"] and f"--port={vllm_sd['port']}" in compose["services"]["vllm"]["command"]
    promtool = shutil.which("promtool")
    if promtool:
        r = subprocess.run([promtool, "check", "config", str(DEPLOY / "prometheus.yml")], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr


# --- kubernetes -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def k8s() -> dict[str, dict]:
    docs = {}
    for f in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(f.read_text()):
            if doc:
                docs[doc["kind"]] = doc
    return docs


def test_k8s_has_every_object_and_kustomization_lists_them(k8s):
    assert {"Deployment", "Service", "ConfigMap", "PersistentVolumeClaim", "HorizontalPodAutoscaler", "Kustomization"} <= set(k8s)
    listed = set(k8s["Kustomization"]["resources"])
    assert listed == {f.name for f in K8S.glob("*.yaml") if f.name != "kustomization.yaml"}, listed
    for kind, doc in k8s.items():
        if kind != "Kustomization":
            assert doc["apiVersion"] and doc["metadata"]["name"], kind


def test_k8s_deployment_wiring(k8s):
    dep, cm, svc, pvc, hpa = (k8s[k] for k in ("Deployment", "ConfigMap", "Service", "PersistentVolumeClaim", "HorizontalPodAutoscaler"))
    pod = dep["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert svc["spec"]["selector"].items() <= labels.items()
    [c] = pod["spec"]["containers"]
    settings_env = cm["data"]
    _check_settings_env(settings_env, "ConfigMap")
    _check_settings_env({e["name"]: None for e in c.get("env", [])}, "Deployment env")
    assert [e["configMapRef"]["name"] for e in c["envFrom"]] == [cm["metadata"]["name"]]
    assert settings_env["TAOSR1_HOST"] == "0.0.0.0"

    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["http"] == int(settings_env["TAOSR1_PORT"])

    def probe(name):
        get = c[name]["httpGet"]
        port = get["port"]
        return get["path"], ports[port] if isinstance(port, str) else port

    assert probe("readinessProbe") == ("/readyz", ports["http"])
    assert probe("livenessProbe") == ("/healthz", ports["http"])
    assert probe("startupProbe")[0] == "/healthz"
    target = svc["spec"]["ports"][0]["targetPort"]
    assert (ports[target] if isinstance(target, str) else target) == ports["http"]
    ann = pod["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true" and int(ann["prometheus.io/port"]) == ports["http"]
    assert ann["prometheus.io/path"] == "/metrics"

    # graceful drain: preStop pause + the service's drain (delay + timeout) must fit in the grace period
    pre_stop = c["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    grace = pod["spec"]["terminationGracePeriodSeconds"]
    assert grace >= int(pre_stop[1]) + _drain_s(settings_env) + 5, (grace, pre_stop, _drain_s(settings_env))

    res = c["resources"]
    assert res["requests"]["cpu"] and res["requests"]["memory"] and res["limits"]["memory"]
    assert int(settings_env["TAOSR1_THREADS"]) == int(res["requests"]["cpu"]), "threads should match the CPU request"

    # the registry PVC is mounted where TAOSR1_REGISTRY_DIR points
    vols = {v["name"]: v for v in pod["spec"]["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    reg = settings_env["TAOSR1_REGISTRY_DIR"]
    assert reg in mounts, (reg, mounts)
    assert vols[mounts[reg]]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    assert "ReadWriteMany" in pvc["spec"]["accessModes"], "replicas share the registry"

    sec = pod["spec"]["securityContext"]
    assert sec["runAsNonRoot"] and sec["runAsUser"] != 0

    ref = hpa["spec"]["scaleTargetRef"]
    assert (ref["kind"], ref["name"]) == ("Deployment", dep["metadata"]["name"])
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


# --- Dockerfiles ------------------------------------------------------------------------------
def _instructions(path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def _dockerignore() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [x.strip() for x in lines if x.strip() and not x.startswith("#")]


def _ignored(rel: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(rel.split("/")[0], p) for p in patterns)


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.gpu"])
def test_dockerfile_builds_like_the_readme(name):
    ins = _instructions(REPO / name)
    ops = [op for op, _ in ins]
    assert ops[0] in ("ARG", "FROM") and "FROM" in ops
    runs = " && ".join(rest for op, rest in ins if op == "RUN")
    assert "bash scripts/install.sh" in runs, "install the way the README does"
    assert "python -m taosr1.cli prepare" in runs, "prepare the model and indexes at build time"
    assert runs.index("scripts/install.sh") < runs.index("taosr1.cli prepare")

    env = {}
    for op, rest in ins:
        if op == "ENV":
            env.update(dict(re.findall(r"(\w+)=(\S+)", rest)))
    _check_settings_env(env, name)
    assert env["HF_HUB_OFFLINE"] == "1" and env["TRANSFORMERS_OFFLINE"] == "1", "no network at run time"
    assert env["TAOSR1_HOST"] == "0.0.0.0"
    exposed = [rest for op, rest in ins if op == "EXPOSE"]
    assert exposed == [env["TAOSR1_PORT"]]

    users = [rest for op, rest in ins if op == "USER"]
    assert users and users[-1] not in ("root", "0"), "run as a non-root user"
    assert ops.index("USER") > max(i for i, op in enumerate(ops) if op == "RUN"), "USER after the build steps"
    health = next(rest for op, rest in ins if op == "HEALTHCHECK")
    assert "/healthz" in health
    cmd = next(rest for op, rest in ins if op == "CMD")
    assert '"taosr1.cli", "serve"' in cmd

    # what the build needs is in the context (.dockerignore keeps local state out, not sources)
    patterns = _dockerignore()
    for rel in ("scripts/install.sh", "pyproject.toml", "service/app.py", "taosr1/cli.py", "relevance", "retrieval", "training"):
        assert (REPO / rel).exists(), rel
        assert not _ignored(rel, patterns), f".dockerignore drops {rel}"
    for rel in (".venv", "var", ".git"):
        assert _ignored(rel, patterns), f".dockerignore should drop {rel}"


def test_gpu_image_uses_the_vllm_engine():
    ins = _instructions(REPO / "Dockerfile.gpu")
    env = {}
    for op, rest in ins:
        if op in ("ENV", "ARG"):
            env.update(dict(re.findall(r"(\w+)=(\S+)", rest)))
    assert env["TAOSR1_ENGINE"] == "vllm" and env["TAOSR1_DEVICE"] == "cuda"
    assert "vllm" in env["TAOSR1_EXTRAS"].split(",")


# --- scripts/ensure_prometheus.sh ------------------------------------------------------------
def test_ensure_prometheus_is_wired_and_fast_when_present():
    script = REPO / "scripts" / "ensure_prometheus.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    make_test = re.search(r"^test:.*?(?=^\S|\Z)", (REPO / "Makefile").read_text(), re.M | re.S).group(0)
    assert make_test.index("ensure_prometheus.sh") < make_test.index("pytest"), "make test runs it before pytest"
    if not shutil.which("prometheus"):
        pytest.skip("prometheus absent: not running the installer from a unit test")
    r = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
