"""Weakly labelled pairs from real listings: the two rules, no use of gold levels, the recipe hook."""

from __future__ import annotations

from dataclasses import replace

import pytest

from relevance.datasets.loaders import load_pairs
from training.data import fixture_path
from training.data.folds import select_fold
from training.data.weak import FOREIGN_QUERY, TITLE_QUERY, content_words, shares_a_word, weak_pairs
from training.run import DataConfig, check_weak_disjoint, load_train_pairs


@pytest.fixture(scope="module")
def real_pairs():
    return load_pairs(fixture_path("esci_iphone_charger.csv")) + select_fold(load_pairs(fixture_path("esci_dev.csv")), (0, 2))


def test_each_listing_gets_a_title_query_and_a_foreign_query(real_pairs):
    weak = weak_pairs(real_pairs, seed=0)
    listings = {p.product.id for p in real_pairs}
    exact = [p for p in weak if p.tags == (TITLE_QUERY,)]
    foreign = [p for p in weak if p.tags == (FOREIGN_QUERY,)]
    assert {p.level for p in exact} == {4} and {p.level for p in foreign} == {1}
    assert len(foreign) == len(listings) and len(exact) >= 0.95 * len(listings)
    for p in exact:  # the query is words of the listing's own title
        assert set(p.query.split()) <= set(content_words(p.product.title))
    real_queries = {p.query for p in real_pairs}
    for p in foreign:  # a real query of another group, no word in common with the title
        assert p.query in real_queries and not shares_a_word(p.query, p.product.title)
        assert all(p.query != r.query for r in real_pairs if r.product.id == p.product.id)
    assert {p.source for p in weak} == {"weak"}


def test_a_listing_gathered_for_two_queries_gets_neither_as_foreign(real_pairs):
    listing = real_pairs[0].product
    twice = [*real_pairs, replace(real_pairs[-1], product=listing)]  # the same listing under a second query
    foreign = {p.query for p in weak_pairs(twice, seed=0, per_listing=50) if p.product.id == listing.id and p.level == 1}
    assert foreign and real_pairs[0].query not in foreign and real_pairs[-1].query not in foreign


def test_gold_levels_are_not_read_and_the_output_is_seeded(real_pairs):
    blanked = [replace(p, level=1) for p in real_pairs]
    assert weak_pairs(blanked, seed=3) == weak_pairs(real_pairs, seed=3)
    assert weak_pairs(real_pairs, seed=3) != weak_pairs(real_pairs, seed=4)


def test_recipe_weak_sources_are_pooled_across_files(tmp_path):
    cfg = DataConfig(
        train=[f"weak:{fixture_path('esci_iphone_charger.csv')}", f"weak:{fixture_path('esci_dev.csv')}#fold=0/2"],
        eval_files=[f"select={fixture_path('esci_dev.csv')}#fold=1/2"],
    )
    pairs = load_train_pairs(cfg, seed=0)
    iphone_listings_foreign = [p for p in pairs if p.tags == (FOREIGN_QUERY,) and p.query != "iphone charger"]
    assert iphone_listings_foreign, "the one-query file's listings get the other file's queries"
    check_weak_disjoint(pairs, cfg)  # fold 0 listings, fold 1 selection: fine


def test_weak_pairs_from_an_evaluation_set_are_refused():
    cfg = DataConfig(
        train=[f"weak:{fixture_path('esci_dev.csv')}"], eval_files=[f"select={fixture_path('esci_dev.csv')}#fold=1/2"]
    )
    with pytest.raises(ValueError, match="evaluation set 'select'.*#fold=K/N"):
        check_weak_disjoint(load_train_pairs(cfg, seed=0), cfg)
