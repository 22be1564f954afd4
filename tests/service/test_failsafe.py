"""Fail safe: a broken `latest` at start-up falls back to the last good version, the watcher
picks up a repair even with nothing loaded, and the canary's default gate refuses a clearly
worse model. The real app under uvicorn on loopback, tiny random-weight checkpoints."""

from __future__ import annotations

import shutil

import pytest

from relevance.registry import publish, read_latest
from service.live import live_server
from service.reloader import Reloader
from service.settings import Settings
from tests.service.test_reload import AUTH, BODY, metric, registry_settings, wait_until


def _garbage_adapter(src, dst):
    shutil.copytree(src, dst)
    (dst / "adapter_model.safetensors").write_bytes(bytes(range(256)) * 4)  # like head -c 1000 /dev/urandom
    return dst


def test_corrupt_latest_at_restart_serves_the_last_good_version(tmp_path, tiny_model_dir, tiny_adapter_dir, index_dir, cache_dir):
    registry = tmp_path / "registry"
    publish(tiny_model_dir, registry, version="v0001", cache_dir=cache_dir)
    publish(_garbage_adapter(tiny_adapter_dir, tmp_path / "bad"), registry, version="v0002", validate=False)
    assert read_latest(registry) == "v0002"
    with live_server(registry_settings(registry, index_dir, cache_dir)) as srv, srv.client() as c:
        assert c.get("/readyz").status_code == 200
        models = c.get("/models").json()
        assert models["serving"]["version"] == "v0001" and models["registry"]["serving"] == "v0001"
        [skipped] = models["registry"]["skipped"]
        assert skipped["version"] == "v0002" and skipped["kind"] == "invalid" and "safetensors" in skipped["reason"]
        assert metric(c, 'taosr1_model_load_skipped_total{reason="invalid"}') == 1
        assert c.post("/relevance", json=BODY).status_code == 200
        publish(tiny_model_dir, registry, version="v0003", cache_dir=cache_dir)  # the repair: latest moves again
        wait_until(lambda: c.get("/models").json()["registry"]["serving"] == "v0003", timeout=120, what="v0003")


def test_the_watcher_polls_while_nothing_is_loaded(tmp_path, tiny_model_dir, index_dir, cache_dir):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    (broken / "model.safetensors").write_bytes(b"not weights")
    registry = tmp_path / "registry"
    registry.mkdir()
    settings = registry_settings(registry, index_dir, cache_dir, model_dir=broken)
    with live_server(settings, ready=False) as srv, srv.client() as c:
        wait_until(lambda: c.get("/models").json()["last_error"], what="the failed start")
        assert c.get("/readyz").status_code == 503
        publish(tiny_model_dir, registry, version="v0001", cache_dir=cache_dir)
        wait_until(lambda: c.get("/readyz").status_code == 200, timeout=120, what="the watcher to load v0001")
        assert c.post("/relevance", json=BODY).status_code == 200


def test_the_default_canary_gate_refuses_a_clearly_worse_model(tmp_path, tiny_model_dir, index_dir, cache_dir, monkeypatch):
    def predict(model, pairs):  # the serving model is right on every pair, v0002 wrong on every pair
        return [p.level if model.registry_version != "v0002" else (1 if p.level != 1 else 4) for p in pairs]

    monkeypatch.setattr(Reloader, "_predict", staticmethod(predict))
    default_drop = Settings.model_fields["canary_max_drop"].default
    assert default_drop == 0.1
    registry = tmp_path / "registry"
    publish(tiny_model_dir, registry, version="v0001", cache_dir=cache_dir)
    settings = registry_settings(registry, index_dir, cache_dir, registry_poll_s=0, canary_max_drop=default_drop)
    with live_server(settings) as srv, srv.client() as c:
        publish(tiny_model_dir, registry, version="v0002", cache_dir=cache_dir)
        r = c.post("/admin/reload", headers=AUTH)
        assert r.status_code == 409, r.text
        assert "TAOSR1_CANARY_MAX_DROP=0.1" in r.json()["error"]["message"]
        assert c.get("/models").json()["registry"]["serving"] == "v0001"


@pytest.mark.parametrize("token", ["changeme", "admin"])
def test_a_weak_admin_token_is_refused_without_echoing_it(token):
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        Settings(admin_enabled=True, admin_token=token)
    assert "TAOSR1_ADMIN_TOKEN" in str(info.value) and f"'{token}'" not in str(info.value)
