"""`taosr1 batch score`: resumable, same results as /relevance, locally and on a local Ray instance."""

from __future__ import annotations

import json

import pytest

from relevance.batch_io import read_records
from service.live import live_server
from taosr1.cli import main
from tests.service.test_api import settings_for
from tests.service.test_jobs import pair_lines

N = 30


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("batch-in") / "pairs.ndjson"
    lines = pair_lines(N)
    lines.insert(7, "{broken")  # a bad row: an error record, never a failed run
    lines.insert(12, json.dumps({"query": "garden hose", "product": {"id": "noid", "title": "Hose reel cart"}}))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def online(pairs_file, tiny_model_dir, index_dir, cache_dir):
    """Each pair's probabilities from /relevance (one request per query, as a search backend sends them)."""
    rows = [json.loads(x) for x in pairs_file.read_text().splitlines() if x.startswith("{\"")]
    by_query: dict[str, list] = {}
    for r in rows:
        by_query.setdefault(r["query"], []).append(r["product"])
    out = {}
    with live_server(settings_for(tiny_model_dir, index_dir, cache_dir)) as srv, srv.client() as c:
        for query, products in by_query.items():
            for page in range(0, len(products), 8):  # settings_for: max_products=8
                body = c.post("/relevance", json={"query": query, "products": products[page : page + 8]}).json()
                out.update({(query, x["id"]): x["probs"] for x in body["results"]})
    return out


@pytest.fixture()
def env(monkeypatch, index_dir, cache_dir):
    for key, value in {"TAOSR1_INDEX_DIR": index_dir, "TAOSR1_CACHE_DIR": cache_dir, "TAOSR1_DTYPE": "float32",
                       "TAOSR1_THREADS": "1"}.items():
        monkeypatch.setenv(key, str(value))


def run(capsys, *argv) -> dict:
    assert main(["batch", "score", "--quiet", *map(str, argv)]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def check_against_online(records: list[dict], online: dict) -> None:
    ok = [r for r in records if "error" not in r]
    errors = [r for r in records if "error" in r]
    assert len(ok) == N + 1 and len(errors) == 1 and errors[0]["id"] == "line-8"
    assert len({r["id"] for r in records}) == len(records) == N + 2
    for r in ok:
        expected = online[(r["query"], r["product_id"])]
        for level, p in expected.items():
            assert abs(float(r["probs"][level]) - p) < 1e-5, (r["id"], level)


def test_cli_resumes_an_interrupted_run_and_matches_relevance(env, capsys, pairs_file, online, tiny_model_dir, tmp_path):
    out = tmp_path / "out.ndjson"
    full = run(capsys, "--input", pairs_file, "--output", out, "--model", tiny_model_dir, "--chunk", 4)
    assert full["rows"] == N + 2 and full["scored"] == N + 1 and full["failed"] == 1 and full["skipped"] == 0
    reference = out.read_text().splitlines()
    # an interrupted run: three whole chunks written, the fourth cut off mid-line by the crash
    out.write_text("\n".join(reference[:12]) + "\n" + reference[12][:25])
    resumed = run(capsys, "--input", pairs_file, "--output", out, "--model", tiny_model_dir, "--chunk", 4)
    assert resumed["skipped"] == 12 and resumed["scored"] + resumed["failed"] == N + 2 - 12
    assert out.read_text().splitlines() == reference  # exactly once, in input order, the same results
    again = run(capsys, "--input", pairs_file, "--output", out, "--model", tiny_model_dir)
    assert again["skipped"] == N + 2 and again["scored"] == 0
    check_against_online([json.loads(x) for x in reference], online)


def test_cli_csv_in_parquet_out(env, capsys, pairs_file, online, tiny_model_dir, tmp_path):
    import csv

    rows = [json.loads(x) for x in pairs_file.read_text().splitlines() if x.startswith("{\"")]
    src = tmp_path / "pairs.csv"
    with src.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "query", "product_id", "title"])
        for r in rows:
            w.writerow([r.get("id", ""), r["query"], r["product"]["id"], r["product"]["title"]])
    out = tmp_path / "out.parquet"
    summary = run(capsys, "--input", src, "--output", out, "--model", tiny_model_dir, "--chunk", 8)
    assert summary["scored"] == N + 1 and out.is_file() and not (tmp_path / "out.parquet.parts").exists()
    records = list(read_records(out))
    assert len(records) == N + 1 and all("probs" in r for r in records)
    for r in records:
        for level, p in online[(r["query"], r["product_id"])].items():
            assert abs(r["probs"][level] - p) < 1e-5


@pytest.mark.slow
def test_ray_run_on_a_local_instance_matches_relevance_and_resumes(env, capsys, pairs_file, online, tiny_model_dir, tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "ray.ndjson"
    head = tmp_path / "head.ndjson"  # a previous, interrupted run finished the first five rows
    head.write_text("\n".join(pairs_file.read_text().splitlines()[:5]) + "\n")
    run(capsys, "--input", head, "--output", out, "--model", tiny_model_dir)
    summary = run(capsys, "--input", pairs_file, "--output", out, "--model", tiny_model_dir, "--ray", "--actors", 1,
                  "--chunk", 8)
    assert summary["ray"] and summary["skipped"] == 5 and summary["scored"] + summary["failed"] == N + 2 - 5
    records = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in records[:5]] == ["r0", "r1", "r2", "r3", "r4"]
    check_against_online(records, online)
