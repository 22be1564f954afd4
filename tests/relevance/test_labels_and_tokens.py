"""Label schemes and the one-token rule, against the real SmolLM2 tokenizer."""

import pytest

from relevance.labels import (
    DEFAULT_SCHEME,
    ESCI,
    TAOSR1,
    TAOSR1_ESCI_LINE,
    LabelScheme,
    Level,
    esci_to_level,
    get_scheme,
)
from relevance.tokens import LabelTokenError, label_token_ids


def test_default_scheme_is_taosr1_four_levels_under_the_esci_line():
    assert DEFAULT_SCHEME is TAOSR1_ESCI_LINE
    for scheme in (TAOSR1, TAOSR1_ESCI_LINE):
        assert scheme.level_values == (4, 3, 2, 1)
        assert [lv.name for lv in scheme.levels] == ["Excellent", "Related", "Mismatch", "Irrelevant"]
        assert [scheme.tier_of(lv) for lv in (4, 3, 2, 1)] == ["Good", "Mid", "Bad", "Bad"]
        assert scheme.emits == ("4", "3", "2", "1")
        assert get_scheme(scheme.name) is scheme


def test_the_two_taosr1_lines_differ_only_where_a_broken_detail_goes():
    # a model trained under the original line keeps its definitions (its manifest names the scheme)
    assert TAOSR1.name == "taosr1-4level" and TAOSR1_ESCI_LINE.name == "taosr1-4level-esci"
    assert "brand, model or compatibility conflicts" in TAOSR1.by_level(2).definition
    assert "breaks a stated detail" in TAOSR1_ESCI_LINE.by_level(3).definition
    assert "fits another device" in TAOSR1_ESCI_LINE.by_level(2).definition
    for level in (4, 1):
        assert TAOSR1.by_level(level) == TAOSR1_ESCI_LINE.by_level(level)
    assert (TAOSR1.line, TAOSR1_ESCI_LINE.line, ESCI.line) == ("taosr1", "esci", "esci")
    with pytest.raises(ValueError, match="line must be one of"):
        LabelScheme("x", TAOSR1.levels, line="other")


def test_esci_scheme_maps_onto_levels():
    assert [esci_to_level(x) for x in ("Exact", "Substitute", "Complement", "Irrelevant")] == [4, 3, 2, 1]
    assert [esci_to_level(x) for x in ("e", "S", "c", "I")] == [4, 3, 2, 1]
    assert ESCI.by_level(3).name == "Substitute"
    with pytest.raises(ValueError, match="not an ESCI label"):
        esci_to_level("Partial")


def test_unknown_scheme_and_level_name_the_problem():
    with pytest.raises(KeyError, match="known"):
        get_scheme("nope")
    with pytest.raises(KeyError, match="level 7"):
        TAOSR1.by_level(7)


def test_every_label_is_one_token_for_smollm2(smollm2_tokenizer):
    ids = label_token_ids(smollm2_tokenizer, TAOSR1)
    assert len(set(ids)) == 4
    assert [smollm2_tokenizer.decode([i]) for i in ids] == ["4", "3", "2", "1"]
    assert len(label_token_ids(smollm2_tokenizer, ESCI)) == 4


def test_multi_token_label_fails_with_the_label_named(smollm2_tokenizer):
    bad = LabelScheme("words", (Level(2, "Good", "", "Excellentissimo", "Good"), Level(1, "Bad", "", "1", "Bad")))
    with pytest.raises(LabelTokenError, match="'Excellentissimo'.*exactly one"):
        label_token_ids(smollm2_tokenizer, bad)
