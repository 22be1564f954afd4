"""The `taosr1` command as a subprocess: index build, eval, serve."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from service.live import free_port

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "training" / "data" / "fixtures" / "esci_dev.csv"


def run_cli(*args, env=None, timeout=300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "taosr1.cli", *args], cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def test_index_build_is_idempotent(tmp_path):
    cases = tmp_path / "cases.jsonl"
    cases.write_text(json.dumps({"query": "mug", "product": {"id": "1", "title": "Ceramic mug 12 oz"}, "level": 4}) + "\n")
    first = run_cli("index", "build", "--out", str(tmp_path / "idx"), "--cases", str(cases), "--kind", "hnsw")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["cached"] is False and summary["cases"]["count"] == 1 and summary["rules"]["count"] > 40
    second = json.loads(run_cli("index", "build", "--out", str(tmp_path / "idx"), "--cases", str(cases), "--kind", "hnsw").stdout)
    assert second["cached"] is True


def test_eval_prints_one_json_report(tiny_model_dir, index_dir, cache_dir):
    env = {"TAOSR1_INDEX_DIR": str(index_dir), "TAOSR1_CACHE_DIR": str(cache_dir), "TAOSR1_DTYPE": "float32"}
    r = run_cli("eval", "--data", str(FIXTURE), "--format", "esci", "--model", str(tiny_model_dir), "--limit", "12", "--quiet", env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert report["n"] == 12
    assert {"accuracy", "macro_f1", "per_class", "confusion"} <= set(report)
    assert report["model"]["name"] == "tiny"
    assert sum(c["support"] for c in report["per_class"].values()) == 12


def test_eval_per_pair_keeps_each_pairs_gold_prediction_and_level_probabilities(tiny_model_dir, index_dir, cache_dir, tmp_path):
    env = {"TAOSR1_INDEX_DIR": str(index_dir), "TAOSR1_CACHE_DIR": str(cache_dir), "TAOSR1_DTYPE": "float32"}
    out = tmp_path / "report.json"
    args = ("eval", "--data", str(FIXTURE), "--format", "esci", "--model", str(tiny_model_dir), "--limit", "6", "--quiet")
    r = run_cli(*args, "--per-pair", "--out", str(out), env=env)
    assert r.returncode == 0, r.stderr
    report = json.loads(out.read_text())
    assert report["prob_levels"] == [4, 3, 2, 1]
    assert len(report["gold"]) == len(report["pred"]) == len(report["probs"]) == len(set(report["pair_keys"])) == 6
    for pred, probs in zip(report["pred"], report["probs"], strict=True):
        assert abs(sum(probs) - 1.0) < 1e-3  # a distribution over the four levels
        assert pred == report["prob_levels"][max(range(4), key=probs.__getitem__)]  # the label is its argmax
    assert report["macro_f1"] == json.loads(r.stdout)["macro_f1"]
    plain = json.loads(run_cli(*args, env=env).stdout)
    assert "probs" not in plain and "gold" not in plain  # per-pair records only on request
    # each pair's query is recorded as a key, so a comparison can resample whole queries
    from relevance.datasets.loaders import load_pairs
    from training.data.folds import query_key

    assert report["query_keys"] == [query_key(p.query) for p in load_pairs(FIXTURE, "esci")[:6]]
    assert report["queries"] == len(set(report["query_keys"])) and plain["queries"] == report["queries"]
    assert len(report["macro_f1_ci90_by_query"]) == 2
    # `taosr1 compare` of a report with itself: the same judge, no difference, on every pair
    same = run_cli("compare", str(out), str(out))
    assert same.returncode == 0, same.stderr
    diff = json.loads(same.stdout)
    assert diff["n"] == 6 and diff["queries"] == report["queries"] and diff["a"] == diff["b"]
    assert diff["macro_f1_diff"] == 0 and diff["macro_f1_diff_ci90"] == [0, 0] and diff["macro_f1_diff_ci90_by_query"] == [0, 0]


def test_eval_scores_one_query_fold_of_a_file_as_recipes_name_it(tiny_model_dir, index_dir, cache_dir):
    from relevance.datasets.loaders import load_pairs
    from training.data.folds import pair_key, query_fold

    env = {"TAOSR1_INDEX_DIR": str(index_dir), "TAOSR1_CACHE_DIR": str(cache_dir), "TAOSR1_DTYPE": "float32"}
    every = load_pairs(FIXTURE, "esci")
    keys = []
    for k in (0, 1):
        r = run_cli("eval", "--data", f"{FIXTURE}#fold={k}/2", "--format", "esci", "--model", str(tiny_model_dir), "--per-pair", "--quiet", env=env)
        assert r.returncode == 0, r.stderr
        report = json.loads(r.stdout)
        want = [pair_key(p) for p in every if query_fold(p.query, 2) == k]
        assert report["pair_keys"] == want and report["n"] == len(want) > 0
        keys += report["pair_keys"]
    assert sorted(keys) == sorted(pair_key(p) for p in every)  # the two folds split the file


def test_eval_names_an_empty_fold_and_the_fix(tmp_path):
    from training.data.folds import query_fold

    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps({"query": "mug", "product": {"id": "1", "title": "Ceramic mug"}, "level": 4}) + "\n")
    empty = 1 - query_fold("mug", 2)
    r = run_cli("eval", "--data", f"{one}#fold={empty}/2", "--format", "jsonl", "--quiet")
    assert r.returncode != 0 and f"fold {empty}/2" in r.stderr and "pick another K" in r.stderr


def test_eval_refuses_unknown_data_with_a_clear_error(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "mug"}\n')
    r = run_cli("eval", "--data", str(bad), "--format", "jsonl", "--quiet")
    assert r.returncode != 0 and "product" in r.stderr


def test_serve_starts_a_real_process(tiny_model_dir, index_dir, cache_dir):
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TAOSR1_INDEX_DIR": str(index_dir), "TAOSR1_CACHE_DIR": str(cache_dir), "TAOSR1_PORT": str(port), "TAOSR1_MODEL_DIR": str(tiny_model_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "taosr1.cli", "serve"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.2)
        r = httpx.post(f"http://127.0.0.1:{port}/relevance", json={"query": "mug", "products": [{"id": "1", "title": "Ceramic mug"}]}, timeout=60)
        assert r.status_code == 200 and r.json()["results"][0]["id"] == "1"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
    assert f"http://127.0.0.1:{port}/docs" in out


def test_eval_without_own_query_keeps_a_files_own_labelled_cases_out_of_its_prompts(tiny_model_dir, cache_dir, tmp_path):
    """Scoring pairs whose own labelled cases sit in the index: the prompts change (the tiny model's gold NLL
    moves) with --without-own-query, and the report says which was used."""
    from relevance.datasets.loaders import load_pairs
    from retrieval.build import build_indexes

    pairs = load_pairs(FIXTURE, "esci")[:12]
    build_indexes(tmp_path / "idx", cases=pairs)
    env = {"TAOSR1_INDEX_DIR": str(tmp_path / "idx"), "TAOSR1_CACHE_DIR": str(cache_dir), "TAOSR1_DTYPE": "float32"}
    args = ("eval", "--data", str(FIXTURE), "--format", "esci", "--model", str(tiny_model_dir), "--limit", "12", "--quiet")
    leaky, honest = run_cli(*args, env=env), run_cli(*args, "--without-own-query", env=env)
    assert leaky.returncode == 0 and honest.returncode == 0, leaky.stderr + honest.stderr
    leaky_report, honest_report = json.loads(leaky.stdout), json.loads(honest.stdout)
    assert (leaky_report["without_own_query"], honest_report["without_own_query"]) == (False, True)
    assert leaky_report["n"] == honest_report["n"] == 12
    assert leaky_report["gold_nll"] != honest_report["gold_nll"]
