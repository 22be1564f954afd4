"""The shipped corpora are package data, well-formed, and cover every rule kind."""

from __future__ import annotations

from importlib.resources import files

from retrieval.corpora import LEVEL_NAMES, RULE_KINDS, load_query_knowledge, load_rules


def test_corpora_are_package_data() -> None:
    root = files("retrieval.corpora")
    assert root.joinpath("rules.jsonl").is_file()
    assert root.joinpath("query_knowledge.jsonl").is_file()


def test_rules_are_well_formed_and_cover_every_kind() -> None:
    rules = load_rules()  # validates keys, kinds, unique ids and that the text states its level
    assert 50 <= len(rules) <= 70
    assert {r["kind"] for r in rules} == set(RULE_KINDS)
    assert {r["level"] for r in rules} == set(LEVEL_NAMES)
    for rule in rules:
        assert f"{rule['level']} {LEVEL_NAMES[rule['level']]}" in rule["text"]
        assert len(rule["text"]) < 200, rule["id"]


def test_query_knowledge_is_well_formed() -> None:
    entries = load_query_knowledge()
    assert 40 <= len(entries) <= 60
    assert len({e["pattern"] for e in entries}) == len(entries)
