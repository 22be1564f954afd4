"""The shipped corpora are package data, well-formed, cover every rule kind, and state each scheme's line."""

from __future__ import annotations

from importlib.resources import files

import pytest

from relevance.labels import DEFAULT_SCHEME, LINES, SCHEMES
from retrieval.corpora import LEVEL_NAMES, RULE_KINDS, RULES_FILES, load_query_knowledge, load_rules, rules_file


def test_corpora_are_package_data() -> None:
    root = files("retrieval.corpora")
    assert root.joinpath("rules.jsonl").is_file()
    assert all(root.joinpath(name).is_file() for name in RULES_FILES.values())
    assert root.joinpath("query_knowledge.jsonl").is_file()


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_rules_are_well_formed_and_cover_every_kind(scheme: str) -> None:
    rules = load_rules(scheme)  # validates keys, kinds, unique ids and that the text states its level
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


def test_every_scheme_has_rules_and_the_default_is_the_default_schemes() -> None:
    assert set(RULES_FILES) == set(LINES) == {s.line for s in SCHEMES.values()}
    assert load_rules() == load_rules(DEFAULT_SCHEME.name)
    with pytest.raises(ValueError, match="no rules for label scheme 'nope'; known schemes"):
        rules_file("nope")


def test_the_two_lines_differ_where_the_schemes_do() -> None:
    """TaoSR1's line calls a broken stated attribute 2 Mismatch; ESCI's calls it a 3 substitute.
    The rules both lines share (kind, category, complements) say the same."""
    taosr1 = {r["id"]: r for r in load_rules("taosr1-4level")}
    esci_line = {r["id"]: r for r in load_rules("taosr1-4level-esci")}
    assert set(taosr1) == set(esci_line)
    assert taosr1["rule-br-02"]["level"] == 2 and esci_line["rule-br-02"]["level"] == 3
    assert taosr1["rule-ka-02"]["level"] == 2 and esci_line["rule-ka-02"]["level"] == 3
    changed = {i for i in taosr1 if taosr1[i] != esci_line[i]}
    assert changed and all(taosr1[i]["level"] == 2 and esci_line[i]["level"] == 3 for i in changed)
    assert all(taosr1[i] == esci_line[i] for i in taosr1 if taosr1[i]["kind"] in ("category", "accessory_vs_main"))
