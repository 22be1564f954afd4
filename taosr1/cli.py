"""The `taosr1` command: serve, prepare, index build, eval, compare, batch score, data synth, train, publish, export, soup.

A thin layer over the packages: it parses arguments, builds Settings, and calls one function
per subcommand. Results meant for scripts go to stdout as JSON; progress goes to stderr.
An error is one line on stderr naming the problem and the fix, with exit code 2 for what the
user can fix (a file, a column, a recipe, a checkpoint, a setting) and 1 for anything else;
`taosr1 --debug …` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from relevance.paths import REPO_ROOT  # noqa: E402

# The cases index `taosr1 prepare` builds: the training split of training/recipes/default.yaml
# (the synthetic split plus the real ESCI "iphone charger" pairs), so the shipped default model
# retrieves the same cases it was trained with. Never the hard set or esci_dev.csv.
DEFAULT_CASES = {"n_queries": 240, "products_per_query": 6, "seed": 0, "files": ["training/data/fixtures/esci_iphone_charger.csv"]}


def _settings(**overrides):
    from service.settings import Settings

    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _log(msg: str) -> None:
    print(f"[taosr1] {msg}", file=sys.stderr, flush=True)


def shipped_cases(settings=None) -> Path | None:
    """The served model's own training split (`cases.jsonl` in its folder), when it ships one."""
    from relevance.checkpoint import CASES_FILE
    from service.runtime import default_model_dir

    path = default_model_dir(settings or _settings()) / CASES_FILE
    return path if path.is_file() else None


def default_case_pairs(settings=None):
    """Labelled cases for the served cases index: those the served model ships (`shipped_cases`),
    else the built-in corpus below (never a held-out set)."""
    from relevance.datasets.loaders import load_pairs
    from training.data.synthetic import generate

    if shipped := shipped_cases(settings):
        return load_pairs(shipped, "jsonl")
    pairs = generate(DEFAULT_CASES["n_queries"], DEFAULT_CASES["products_per_query"], seed=DEFAULT_CASES["seed"])
    for name in DEFAULT_CASES["files"]:
        pairs += load_pairs(REPO_ROOT / name)
    return pairs


def cases_corpus_name(settings=None) -> str:
    """Where `default_case_pairs` takes its cases from, in words (recorded with the fallback's calibration)."""
    shipped = shipped_cases(settings)
    return str(shipped) if shipped else ", ".join(["synthetic training split", *DEFAULT_CASES["files"]])


def served_scheme(settings=None) -> str:
    """The label scheme of the model `make serve` serves: whose rules the serving index holds. The
    default scheme when that folder has no readable manifest (a registry root, say): a checkpoint
    of another scheme indexes its own rules at load either way (retrieval.model_cases)."""
    from relevance.labels import DEFAULT_SCHEME
    from relevance.manifest import ManifestError, read_manifest
    from service.runtime import default_model_dir

    try:
        return read_manifest(default_model_dir(settings or _settings())).label_scheme
    except ManifestError:
        return DEFAULT_SCHEME.name


def cmd_index_build(args) -> int:
    from relevance.datasets.loaders import load_pairs
    from retrieval.build import build_indexes

    settings = _settings()
    out = Path(args.out) if args.out else settings.resolved_index_dir
    cases = load_pairs(args.cases) if args.cases else ([] if args.no_cases else default_case_pairs())
    summary = build_indexes(out, cases, kind=args.kind, scheme=args.scheme or served_scheme(settings))
    print(json.dumps(summary))
    return 0


def calibrate_fallback(index_dir: Path) -> None:
    """The fallback scorer's thresholds (cosine and lexical tiers), calibrated on the cases corpus into
    <index_dir>/fallback.json and fallback-lexical.json (idempotent)."""
    from retrieval.embedder import Embedder
    from retrieval.fallback import ensure_calibration, ensure_lexical_calibration

    t = time.perf_counter()
    data = "cases corpus: " + cases_corpus_name()
    pairs = default_case_pairs()
    for tier, (cal, cached) in (
        ("fallback scorer", ensure_calibration(Embedder.load(), pairs, index_dir, data)),
        ("fallback lexical tier", ensure_lexical_calibration(pairs, index_dir, data)),
    ):
        state = "cached" if cached else f"calibrated on {cal.n} pairs"
        _log(f"{tier} {state}: thresholds {tuple(round(x, 3) for x in cal.thresholds)}, macro-F1 {cal.macro_f1} ({time.perf_counter() - t:.1f}s)")


def cmd_prepare(args) -> int:
    """Everything `make serve` needs before starting: the base model, the retrieval indexes, the fallback's thresholds."""
    from relevance.base_model import prepare_base_model
    from retrieval.build import build_indexes

    settings = _settings()
    t = time.perf_counter()
    path = prepare_base_model(settings.cache_dir)
    _log(f"base model ready at {path} ({time.perf_counter() - t:.1f}s)")
    if settings.retrieval:
        t = time.perf_counter()
        summary = build_indexes(settings.resolved_index_dir, default_case_pairs(), scheme=served_scheme(settings))
        state = "cached" if summary["cached"] else "built"
        _log(f"retrieval indexes {state} at {settings.resolved_index_dir} ({time.perf_counter() - t:.1f}s)")
    calibrate_fallback(settings.resolved_index_dir)
    return 0


def cmd_serve(args) -> int:
    import uvicorn

    from service.app import create_app
    from service.lifecycle import DrainingServer

    settings = _settings(host=args.host, port=args.port, model_dir=args.model, engine=args.engine)
    _log(f"starting on http://{settings.host}:{settings.port} — OpenAPI docs at http://{settings.host}:{settings.port}/docs")
    app = create_app(settings)
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level="info", log_config=serve_log_config(),
        timeout_graceful_shutdown=int(settings.drain_timeout_s) + 5,
    )
    server = DrainingServer(config, app.state.service, settings.drain_delay_s, settings.drain_timeout_s)
    server.run()
    return 0


def serve_log_config() -> dict:
    """uvicorn's logging config plus the service's own `taosr1.*` loggers at INFO, one line each
    (loads, reloads validated/loaded/swapped/refused, start-up fallbacks, draining)."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["taosr1"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


#: `taosr1 eval --model fallback`: the calibrated MiniLM fallback scorer instead of a checkpoint;
#: `--model fallback-lexical`: the fallback's lexical tier (retrieval.lexical)
FALLBACK_MODEL = "fallback"
LEXICAL_MODEL = "fallback-lexical"


def load_judge(settings, model_dir: Path | None, without_own_query: bool = False):
    """A judge on `model_dir` (default: the service's default model): LLM engine, the cross-encoder
    baseline, `fallback` — the calibrated MiniLM fallback scorer —, `fallback-lexical` — its lexical
    tier —, or `zero-shot` — the untrained
    base model on a short prompt (relevance.zero_shot). With `without_own_query` an LLM's prompts
    leave out the retrieved cases of the pair's own query (retrieval.knowledge.ConfiguredRetriever)."""
    from relevance.cross_encoder import CrossEncoderJudge, CrossEncoderModel, is_cross_encoder
    from relevance.engines.options import open_engine
    from relevance.judge import Judge
    from relevance.zero_shot import ZERO_SHOT_MODEL
    from retrieval.knowledge import open_retriever
    from service.runtime import default_model_dir

    if model_dir is not None and str(model_dir) == FALLBACK_MODEL and not model_dir.exists():
        from retrieval.embedder import Embedder
        from retrieval.fallback import CALIBRATION_FILE, FallbackScorer

        index_dir = settings.resolved_index_dir
        return FallbackScorer.open(Embedder.load(), index_dir if index_dir.is_dir() else None), index_dir / CALIBRATION_FILE
    if model_dir is not None and str(model_dir) == LEXICAL_MODEL and not model_dir.exists():
        from retrieval.fallback import LEXICAL_CALIBRATION_FILE, LexicalScorer, load_calibration

        index_dir = settings.resolved_index_dir
        return LexicalScorer(load_calibration(index_dir, LEXICAL_CALIBRATION_FILE)), index_dir / LEXICAL_CALIBRATION_FILE
    if model_dir is not None and str(model_dir) == ZERO_SHOT_MODEL and not model_dir.exists():
        from relevance.base_model import prepare_base_model
        from relevance.zero_shot import zero_shot_judge

        base = prepare_base_model(settings.cache_dir)
        return zero_shot_judge(open_engine(settings, base)), base
    path = model_dir or default_model_dir(settings)
    if is_cross_encoder(path):
        return CrossEncoderJudge(CrossEncoderModel.load(path)), path
    retriever = open_retriever(settings.resolved_index_dir, settings.retrieval_config, without_own_query)
    engine = open_engine(settings, path)
    if retriever is not None:  # as the service does: the checkpoint's own rules and judged cases (retrieval.model_cases)
        from retrieval.model_cases import checkpoint_retriever

        retriever = checkpoint_retriever(retriever, path, engine.manifest.label_scheme)
    return Judge(engine, retriever), path


def _load_eval_pairs(data: str, format: str | None) -> list:
    """The labelled pairs of `data`: a file, or one query fold of it (`FILE#fold=K/N`, as recipes name them)."""
    from training.data.folds import parse_source
    from training.run import load_source

    pairs = load_source(data, format)
    path, fold = parse_source(data)
    if fold is not None and not pairs:
        raise ValueError(f"--data {data}: no query of {path} falls in fold {fold[0]}/{fold[1]}; pick another K or a smaller N")
    return pairs


def cmd_eval(args) -> int:
    from tqdm import tqdm

    from relevance.metrics import bootstrap_interval, classification_report, gold_nll
    from relevance.ranking_metrics import ranking_report
    from training.evaluate import by_query_interval

    settings = _settings(engine=args.engine, retrieval=False if args.no_retrieval else None)
    pairs = _load_eval_pairs(args.data, args.format)
    if args.limit:
        pairs = pairs[: args.limit]
    judge, path = load_judge(settings, Path(args.model) if args.model else None, args.without_own_query)
    if args.robustness:
        return _eval_robustness(args, judge, path, pairs, settings)
    started = time.perf_counter()
    with tqdm(total=len(pairs), desc="eval", unit="pair", file=sys.stderr, disable=args.quiet) as bar:
        scored = judge.score_pairs([p.query for p in pairs], [p.product for p in pairs], beta=settings.beta, progress=bar)
    seconds = time.perf_counter() - started
    gold, pred = [p.level for p in pairs], [s.level for s in scored]
    report = classification_report(gold, pred)
    report["macro_f1_ci90"] = [round(v, 4) for v in bootstrap_interval(gold, pred)]
    report.update(by_query_interval(gold, pred, [p.query for p in pairs]))
    report["gold_nll"] = gold_nll(gold, [getattr(s, "probs", None) for s in scored])
    report["ranking"] = ranking_report(gold, [s.score for s in scored], [p.query for p in pairs])
    if args.per_pair:
        from training.evaluate import per_pair_records

        report.update(per_pair_records(pairs, scored))
    report.update(
        {
            "data": str(args.data),
            "model": model_info(judge, path),
            "retrieval": settings.retrieval,
            "without_own_query": bool(args.without_own_query) and getattr(judge, "retriever", None) is not None,
            "seconds": round(seconds, 2),
            "pairs_per_s": round(len(pairs) / seconds, 2) if seconds else None,
        }
    )
    text = json.dumps(report)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    print(text)
    return 0


def model_info(judge, path) -> dict:
    """What scored an eval: the checkpoint's manifest, or the fallback scorer's calibration."""
    calibration = getattr(judge, "calibration", None)
    if calibration is not None:
        return {
            "name": judge.name, "stage": judge.name, "path": str(path), "engine": judge.engine_name,
            "thresholds": list(calibration.thresholds), "temperature": calibration.temperature, "calibrated_on": calibration.data,
        }
    from relevance.zero_shot import ZERO_SHOT_PROMPT_VERSION

    m = judge.engine.manifest
    info = {"name": m.name, "version": m.version, "stage": m.stage, "path": str(path), "engine": judge.engine.name}
    if (prompt := getattr(getattr(judge, "renderer", None), "version", None)) == ZERO_SHOT_PROMPT_VERSION:
        info.update(stage="zeroshot", prompt=prompt)
    return info


def _eval_robustness(args, judge, path, pairs, settings) -> int:
    """`taosr1 eval --robustness`: injected instructions vs neutral text on the file's non-Exact pairs."""
    from tqdm import tqdm

    from training.robustness import robustness_report, variants_per_pair

    renderer = getattr(judge, "renderer", None)
    if args.keep_listing_instructions and renderer is not None:
        renderer.drop_listing_instructions = False  # the model alone, without the prompt's listing filters
        renderer.drop_listing_stuffing = False
    n = sum(1 for p in pairs if p.level < 4) * variants_per_pair()
    with tqdm(total=n, desc="robustness", unit="pair", file=sys.stderr, disable=args.quiet) as bar:
        report = robustness_report(judge, pairs, beta=settings.beta, progress=bar)
    report["data"] = str(args.data)
    report["model"] = model_info(judge, path)
    report["instruction_filter"] = bool(renderer is not None and renderer.drop_listing_instructions)
    report["stuffing_filter"] = renderer.drop_listing_stuffing if renderer is not None else None  # None: no prompt
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps(report))
    summaries = [report["overall"], report.get("keyword_stuffing")]
    return 0 if all(s["meets_bar"] for s in summaries if s) else 1


def cmd_data_synth(args) -> int:
    from relevance.datasets.jsonl import save_jsonl
    from training.data.synthetic import generate, generate_hard_set

    if args.hard and args.soft_words:
        print("error: --soft-words words training queries; the hard set keeps its own templates (drop --hard or --soft-words)", file=sys.stderr)
        return 2
    if not 0.0 <= args.soft_words <= 1.0:
        print(f"error: --soft-words is a share of the queries in [0, 1], got {args.soft_words}", file=sys.stderr)
        return 2
    if args.hard:
        pairs = generate_hard_set(args.queries, args.products, seed=args.seed, scheme=args.scheme)
    else:
        pairs = generate(args.queries, args.products, seed=args.seed, scheme=args.scheme, soft=args.soft_words)
    n = save_jsonl(pairs, args.out)
    counts: dict[int, int] = {}
    for p in pairs:
        counts[p.level] = counts.get(p.level, 0) + 1
    print(json.dumps({"out": args.out, "pairs": n, "levels": dict(sorted(counts.items(), reverse=True))}))
    return 0


def _summary(result):
    """A stage's summary without per-step histories (those are in <run>/logs/*.jsonl)."""
    if isinstance(result, dict):
        return {k: _summary(v) for k, v in result.items() if k != "history"}
    return result


def cmd_train_stage(args) -> int:
    from training.config import load_recipe, overrides_from_args
    from training.pipeline import SECTIONS, STAGE_SECTIONS, build_configs, run_stage

    overrides = {section: overrides_from_args(args, SECTIONS[section]) for section in STAGE_SECTIONS[args.stage]}
    cfgs = build_configs(load_recipe(args.recipe), overrides)
    print(json.dumps(_summary(run_stage(args.stage, cfgs)), default=str))
    return 0


def cmd_train_pipeline(args) -> int:
    from training.pipeline import parse_sets, run_pipeline

    overrides = parse_sets(args.set or [])
    if args.stages:
        overrides.setdefault("pipeline", {})["stages"] = args.stages
    print(json.dumps(_summary(run_pipeline(args.recipe, overrides)), default=str))
    return 0


def cmd_train_pool(args) -> int:
    from training.pooled import pool_runs, pooled_markdown

    runs = [Path(r) for r in args.run]
    result = pool_runs(runs, args.eval_set)
    markdown = pooled_markdown(result)
    if args.replicate:
        from training.replicates import pool_replicates, replicates_markdown

        others = [[Path(r) for r in group.split(",") if r] for group in args.replicate]
        result["replicates"] = pool_replicates([runs, *others], args.eval_set)
        markdown += "\n" + replicates_markdown(result["replicates"])
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(markdown, file=sys.stderr)
    print(json.dumps({k: v for k, v in result.items() if k != "stages"}))
    return 0


def cmd_publish(args) -> int:
    from relevance.registry import publish

    settings = _settings()  # cache_dir: where an adapter's embedded base model is prepared for validation
    target = publish(
        Path(args.checkpoint), Path(args.registry), version=args.version, make_latest=not args.no_latest,
        cache_dir=settings.cache_dir,
    )
    print(json.dumps({"version": target.name, "path": str(target), "latest": not args.no_latest}))
    return 0


def cmd_export(args) -> int:
    from training.export import export_adapter, run_training_split

    cases = None if args.no_cases else (Path(args.cases) if args.cases else run_training_split(args.checkpoint))
    out = export_adapter(Path(args.checkpoint), Path(args.out), version=args.version, name=args.name, dtype=args.dtype, cases=cases)
    size = sum(f.stat().st_size for f in out.iterdir())
    print(json.dumps({"path": str(out), "version": args.version, "bytes": size}))
    return 0


def cmd_soup(args) -> int:
    from training.soup import soup_adapters

    out = soup_adapters([Path(c) for c in args.checkpoint], Path(args.out), weights=args.weight, name=args.name, rank=args.rank)
    manifest = json.loads((out / "taosr1.json").read_text())
    summary = {"path": str(out), "rank": manifest["recipe"]["soup"]["rank"], "ingredients": len(args.checkpoint)}
    print(json.dumps({**summary, **{k: v for k, v in manifest["metrics"]["soup"].items() if k.startswith("energy")}}))
    return 0


def add_training_commands(sub) -> None:
    """`taosr1 train <stage>`, `taosr1 train pipeline` and `taosr1 publish`."""
    from training.config import add_config_arguments
    from training.pipeline import SECTIONS, STAGE_SECTIONS

    train = sub.add_parser("train", help="TaoSR1 training stages: cot, baseline, sft, dpo, grpo, soup, eval, or the whole pipeline")
    stages = train.add_subparsers(dest="stage", required=True)
    helps = {
        "cot": "build 5-step CoT rationales with RAG and a teacher (<run>/cot/cot.jsonl)",
        "baseline": "fine-tune MiniLM as a 4-class cross-encoder on the same data (<run>/baseline/final)",
        "sft": "supervised fine-tuning on label-first answers (<run>/sft/final)",
        "dpo": "pass@N sampling of the SFT model, preference pairs, DPO (<run>/dpo/final)",
        "grpo": "GRPO with difficulty-based dynamic sampling (<run>/grpo/final)",
        "soup": "more RL seeds (DPO → GRPO) from the run's SFT, averaged with its GRPO into one adapter (<run>/soup/final)",
        "eval": "per-class F1, macro-F1, accuracy and hallucination rate per stage (<run>/eval/table.md)",
    }
    for stage, sections in STAGE_SECTIONS.items():
        s = stages.add_parser(stage, help=helps[stage])
        s.add_argument("--recipe", help="recipe YAML (sections run, data, cot, baseline, sft, sampling, dpo, grpo, soup, eval)")
        for section in sections:
            add_config_arguments(s, SECTIONS[section])
        s.set_defaults(func=cmd_train_stage)
    s = stages.add_parser("pipeline", help="run the recipe's stages in order (each resumes or skips when done)")
    s.add_argument("--recipe", required=True, help="recipe YAML, e.g. training/recipes/tiny.yaml")
    s.add_argument("--set", action="append", metavar="SECTION.FIELD=VALUE", help="override one recipe field (repeatable)")
    s.add_argument("--stages", help="comma-separated stages to run instead of pipeline.stages")
    s.set_defaults(func=cmd_train_pipeline)
    s = stages.add_parser(
        "pool",
        help="pool the held-out set of runs trained on different folds (a cross-fit): per-stage metrics on every held-out pair",
    )
    s.add_argument("--run", action="append", required=True, help="a run folder with an eval stage (repeat, one per fold)")
    s.add_argument("--set", dest="eval_set", default="esci-select", help="the eval set each run held out (default: esci-select)")
    s.add_argument(
        "--replicate", action="append", metavar="RUN,RUN",
        help="the same folds trained with another seed, comma-separated in any order (repeatable): "
        "adds each stage's mean over the replicates, their spread and intervals",
    )
    s.add_argument("--out", help="also write the pooled report (JSON) here")
    s.set_defaults(func=cmd_train_pool)

    s = sub.add_parser(
        "publish",
        help="validate a checkpoint folder and publish it into a model registry (atomic; moves `latest`)",
    )
    s.add_argument("--checkpoint", required=True, help="checkpoint folder with a taosr1.json")
    s.add_argument("--registry", required=True, help="registry folder (created if missing)")
    s.add_argument("--version", help="version name (default: the next vNNNN)")
    s.add_argument("--no-latest", action="store_true", help="publish without moving the latest pointer")
    s.set_defaults(func=cmd_publish)

    s = sub.add_parser("export", help="copy an adapter checkpoint as a small serving folder (e.g. models/default)")
    s.add_argument("--checkpoint", required=True, help="adapter checkpoint folder with a taosr1.json")
    s.add_argument("--out", required=True, help="destination folder (replaced atomically)")
    s.add_argument("--version", required=True, help="version recorded in the manifest")
    s.add_argument("--name", help="model name recorded in the manifest (default: the checkpoint's)")
    s.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"], help="adapter weights dtype")
    s.add_argument("--cases", help="labelled pairs (JSONL) shipped as the model's cases corpus (default: the run's data/train.jsonl)")
    s.add_argument("--no-cases", action="store_true", help="ship no cases corpus (serving then uses the built-in one)")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser(
        "soup",
        help="average LoRA adapters trained from one parent (e.g. RL seeds) into one adapter: the exact mean of their deltas",
    )
    s.add_argument("--checkpoint", action="append", required=True, help="an adapter checkpoint folder (repeat, two or more)")
    s.add_argument("--out", required=True, help="destination folder (replaced atomically)")
    s.add_argument("--weight", action="append", type=float, help="one weight per --checkpoint, summing to 1 (default: uniform)")
    s.add_argument("--name", help="model name recorded in the manifest (default: the first checkpoint's)")
    s.add_argument(
        "--rank", type=int,
        help="store the soup as the best rank-N approximation of the mean delta (default: exact, the ingredients' ranks summed)",
    )
    s.set_defaults(func=cmd_soup)


def cmd_compare(args) -> int:
    from training.compare import compare_reports, load_report, queries_by_pair_key

    a, b = load_report(Path(args.a), args.eval_set), load_report(Path(args.b), args.eval_set)
    queries = queries_by_pair_key(args.data, args.format) if args.data else None
    result = {"a_report": args.a, "b_report": args.b, **compare_reports(a, b, queries_by_pair=queries)}
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result))
    return 0


def add_compare_command(sub) -> None:
    """`taosr1 compare`: judge A minus judge B on the pairs two per-pair eval reports share."""
    s = sub.add_parser(
        "compare",
        help="paired difference of two per-pair eval reports (taosr1 eval --per-pair --out): macro-F1 and accuracy of A "
        "minus B on their shared pairs, with 90%% bootstrap intervals over pairs and over queries",
    )
    s.add_argument("a", help="report of judge A (`taosr1 eval --per-pair --out FILE`, or a run's eval/<stage>.json)")
    s.add_argument("b", help="report of judge B, on the same labelled file")
    s.add_argument("--set", dest="eval_set", help="with a run's eval/<stage>.json: the set to compare (e.g. esci-more-held)")
    s.add_argument(
        "--data",
        help="the labelled file both scored (FILE or FILE#fold=K/N): gives each pair its query for the by-query interval "
        "when the reports predate `query_keys`",
    )
    s.add_argument("--format", choices=["esci", "wands", "jsonl"], help="format of --data")
    s.add_argument("--out", help="also write the comparison (indented JSON) here")
    s.set_defaults(func=cmd_compare)


def add_eval_command(sub) -> None:
    """`taosr1 eval`: score a labelled file (or one query fold of it) with a judge."""
    s = sub.add_parser("eval", help="score a labelled file and print per-class F1, macro-F1, accuracy as JSON")
    s.add_argument(
        "--data",
        required=True,
        help="labelled file (a WANDS folder), or one query fold of it: FILE#fold=K/N, the K-th of N parts by a hash of "
        "the query, as recipes name their sets",
    )
    s.add_argument("--format", choices=["esci", "wands", "jsonl"])
    s.add_argument(
        "--model",
        help="checkpoint folder (default: the embedded default), `fallback` for the fallback scorer, `fallback-lexical` for "
        "its lexical tier, or `zero-shot` for "
        "the untrained base model on a short label-first prompt (query, title, brand)",
    )
    s.add_argument("--engine", choices=["transformers", "vllm"])
    s.add_argument("--limit", type=int, help="only the first N pairs")
    s.add_argument("--no-retrieval", action="store_true", help="prompt without retrieved context")
    s.add_argument(
        "--per-pair",
        action="store_true",
        help="also report every pair's key, gold level, prediction, ranking score and each level's probability "
        "(`gold`, `pred`, `scores`, `pair_keys`, `prob_levels`, `probs`), as `taosr1 train eval` keeps them",
    )
    s.add_argument(
        "--without-own-query",
        action="store_true",
        help="leave each pair's own query out of its retrieved cases, as training prompts do: for scoring a file whose "
        "queries the model's cases index holds (its training rows), so the score is the judge's and not a lookup "
        "(LLM judges with retrieval; the others retrieve nothing)",
    )
    s.add_argument(
        "--robustness",
        action="store_true",
        help="instead of F1: inject instructions into every non-Exact listing and report, per family, how much more "
        "often they raise the label than neutral text of the same length (exit 1 when over the bar); also paste "
        "each pair's query into its listing (keyword stuffing, reported apart; exit 1 when it is over the bar too)",
    )
    s.add_argument(
        "--keep-listing-instructions",
        action="store_true",
        help="with --robustness: measure the model alone, without the prompt dropping instruction-like listing text and keyword stuffing",
    )
    s.add_argument("--out", help="also write the report (indented JSON) here")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_eval)


def build_parser() -> argparse.ArgumentParser:
    from relevance.labels import DEFAULT_SCHEME, SCHEMES

    p = argparse.ArgumentParser(prog="taosr1", description=__doc__.splitlines()[0])
    p.add_argument("--debug", action="store_true", help="show the Python traceback of an error (default: one line)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="start the HTTP service (settings from TAOSR1_* env)")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument("--model", help="checkpoint folder (default: the embedded default)")
    s.add_argument("--engine", choices=["transformers", "vllm"])
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser(
        "prepare", help="prepare the embedded base model, the retrieval indexes and the fallback scorer's calibration (idempotent)"
    )
    s.set_defaults(func=cmd_prepare)

    idx = sub.add_parser("index", help="retrieval indexes").add_subparsers(dest="index_command", required=True)
    s = idx.add_parser("build", help="build the rules, query-knowledge and cases indexes (idempotent)")
    s.add_argument("--out", help="index folder (default: TAOSR1_INDEX_DIR or <cache>/indexes)")
    s.add_argument("--kind", choices=["flat", "ivf", "hnsw"], default="flat")
    s.add_argument("--cases", help="labelled pairs for the cases index (esci/wands/jsonl); default: synthetic")
    s.add_argument("--no-cases", action="store_true", help="build without a cases index")
    s.add_argument(
        "--scheme", choices=sorted(SCHEMES), default=None,
        help="the label scheme whose rules to index (default: the served model's; a model of another scheme indexes its own at load)",
    )
    s.set_defaults(func=cmd_index_build)

    add_eval_command(sub)
    add_compare_command(sub)

    data = sub.add_parser("data", help="datasets").add_subparsers(dest="data_command", required=True)
    s = data.add_parser("synth", help="write seeded synthetic labelled pairs as JSONL")
    s.add_argument("--out", required=True)
    s.add_argument("--queries", type=int, default=200)
    s.add_argument("--products", type=int, default=8)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--hard", action="store_true", help="the held-out hard set (disjoint templates)")
    s.add_argument(
        "--scheme", choices=sorted(SCHEMES), default=DEFAULT_SCHEME.name,
        help="label the pairs on this scheme's line (taosr1-4level: an attribute conflict is 2, as the shipped default learned)",
    )
    s.add_argument(
        "--soft-words", type=float, default=0.0,
        help="share of plain product queries worded with a soft word no listing needs to repeat (data.synthetic_soft_words)",
    )
    s.set_defaults(func=cmd_data_synth)
    add_training_commands(sub)
    from taosr1.batch import add_batch_commands

    add_batch_commands(sub)
    return p


def _user_error_types() -> dict[type, str]:
    """Exceptions that mean the user can fix something, each with the fix to print."""
    from pydantic import ValidationError

    from relevance.base_model import BaseModelUnavailable
    from relevance.datasets.errors import DataFormatError
    from relevance.manifest import ManifestError
    from relevance.registry import PublishRefused, RegistryError
    from relevance.tokens import LabelTokenError
    from relevance.validate import CheckpointInvalid

    types: dict[type, str] = {
        DataFormatError: "fix the file or the path named above (`taosr1 eval --help` lists --data and --format)",
        ValidationError: "fix the TAOSR1_* setting named above (README, Settings)",
        PublishRefused: "fix or retrain the checkpoint; `latest` was not moved",
        RegistryError: "check --checkpoint / --registry / --version (see `taosr1 publish --help`)",
        CheckpointInvalid: "point at a checkpoint folder that validates (weights, tokenizer, taosr1.json)",
        ManifestError: "fix the checkpoint's taosr1.json, or point at another checkpoint folder",
        LabelTokenError: "serve a model whose tokenizer has one token per label",
        BaseModelUnavailable: "install the base model package as said above",
        FileNotFoundError: "check the path",
    }
    try:
        from training.compare import CompareError
        from training.config import ConfigError
        from training.pooled import PoolError
        from training.soup import SoupError
    except ImportError:  # training's dependencies are not installed: no recipes either
        pass
    else:
        types[ConfigError] = "check the recipe path and its fields (training/recipes/*.yaml, `taosr1 train --help`)"
        types[CompareError] = "compare two `taosr1 eval --per-pair --out` reports of the same labelled file (`taosr1 compare --help`)"
        types[PoolError] = "pool one run per fold, each evaluated (taosr1 train eval) on the fold it never trained on"
        types[SoupError] = "soup LoRA adapters trained from one parent, with one --weight per --checkpoint (`taosr1 soup --help`)"
    return types


def describe_error(exc: BaseException) -> tuple[str, int]:
    """One line (problem, then fix) and the exit code: 2 for an error the user can fix, 1 otherwise."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):  # settings: name the variable, never echo its value
        problem = "; ".join(
            f"TAOSR1_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" if e.get("loc") else e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        )
    elif isinstance(exc, FileNotFoundError) and exc.filename:
        problem = f"{exc.filename}: no such file or folder"
    else:
        problem = str(exc) or type(exc).__name__
    for kind, fix in _user_error_types().items():
        if isinstance(exc, kind):
            return " ".join(f"{problem} — fix: {fix}".split()), 2
    return " ".join(f"unexpected {type(exc).__name__}: {problem} — fix: rerun with --debug and report the traceback".split()), 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        line, code = describe_error(exc)
        print(f"taosr1: error: {line} (--debug shows the traceback)", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
