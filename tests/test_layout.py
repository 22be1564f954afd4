"""The layout rules of the module map (README "How it works"): imports point downward, functions stay short."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = {"relevance", "retrieval", "service", "training", "taosr1", "bench", "tests"}
ALLOWED = {
    "relevance": {"relevance"},
    "retrieval": {"relevance", "retrieval"},
    "service": {"relevance", "retrieval", "service"},
    "training": {"relevance", "retrieval", "training"},
    "bench": {"relevance", "retrieval", "service", "training", "taosr1", "bench"},
}
MAX_FUNCTION_LINES = 90


def _trees(packages):
    for pkg in packages:
        for f in sorted((ROOT / pkg).rglob("*.py")):
            yield pkg, f, ast.parse(f.read_text(encoding="utf-8"))


def test_layers_import_downward_only():
    arrows = []
    for pkg, f, tree in _trees(ALLOWED):
        for n in ast.walk(tree):
            if isinstance(n, ast.Import):
                mods = [a.name for a in n.names]
            elif isinstance(n, ast.ImportFrom) and n.module and n.level == 0:
                mods = [n.module]
            else:
                continue
            arrows += [f"{f.relative_to(ROOT)}:{n.lineno} imports {m}" for m in mods
                       if m.split(".")[0] in PROJECT and m.split(".")[0] not in ALLOWED[pkg]]
    assert not arrows, arrows


def test_no_function_runs_past_the_limit():
    long = [
        f"{f.relative_to(ROOT)}:{n.lineno} {n.name} ({n.end_lineno - n.lineno + 1} lines)"
        for _, f, tree in _trees([*ALLOWED, "taosr1"])
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, long
