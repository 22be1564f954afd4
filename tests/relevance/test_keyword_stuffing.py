"""Keyword stuffing (pasted search-term lists, phrases repeated back to back) is found and dropped
from what every judge reads, while ordinary listings, model lists included, pass byte for byte."""

from __future__ import annotations

import random

import pytest

from relevance.cross_encoder import product_text
from relevance.datasets.loaders import load_pairs
from relevance.keyword_stuffing import (
    drop_keyword_stuffing,
    drop_product_stuffing,
    has_keyword_stuffing,
    is_keyword_list_key,
    product_has_keyword_stuffing,
)
from relevance.labels import TAOSR1
from relevance.paths import REPO_ROOT
from relevance.prompt import PromptRenderer
from relevance.types import Product
from retrieval import lexical
from training.data.injection import STUFFING_FIELDS, stuffing_text, with_text
from training.data.synthetic import generate

FIXTURES = REPO_ROOT / "training" / "data" / "fixtures"

ORDINARY = [
    "Fast charger compatible with iPhone 12, iPhone 12 Pro, iPhone 13, iPhone 13 Pro Max",
    "Fits iPhone 13/ 13 Pro/ 13 Pro Max/ 13 mini/ 12 Pro/ 12 Pro Max",
    "304 stainless steel, stainless steel clamp, not easy to rust",
    "Cubes: 15.5 x 11.5 x 4 inches (2 large) 11 x 11 x 4 inches (2 medium)",
    "Luggage tags for travel, 4 pack; price tag holder included",
    "Perfect for iPhone 13. Keyboard with search key and media keys.",
    "Windows XP / Vista / Windows 7 / Windows 8 / Windows 8.1 / Windows 10",
    "Free Mounting Hardware Free mounting hardware included for quick install",
    "Smart speaker with Alexa. Voice search: ask for music, weather and news",
    "Remote with voice search: press and speak",
]

STUFFED = [
    ("Clear case for Galaxy S21 - Related searches: iphone 13 case, iphone 13 case", "Clear case for Galaxy S21"),
    ("Slim wallet. Search terms: mens wallet, rfid wallet, leather wallet. Genuine leather.", "Slim wallet. Genuine leather."),
    ("USB-C cable 2m. Tags: iphone charger, fast charger", "USB-C cable 2m."),
    ("Garden hose 50ft. People also search for: iphone 13 case", "Garden hose 50ft."),
    ("Garden hose 50ft\nKeywords: iphone 13 case, phone case\nKink free", "Garden hose 50ft Kink free"),
    ("Yoga mat iphone 13 case iphone 13 case", "Yoga mat"),
    ("Yoga mat. iphone 13 case, iphone 13 case. Non slip.", "Yoga mat. Non slip."),
    ("Yoga mat, iphone 13 case, iphone 13 case, iphone 13 case with strap", "Yoga mat, with strap"),
    ("Desk lamp #iphonecase #iphone13 #phonecase", "Desk lamp"),
    ("Search: iphone 13 case, iphone case", ""),
    ("Desk lamp, LED. Search: iphone 13 case, phone case", "Desk lamp, LED."),
]


#: the leads as sellers write them on Amazon's other stores; the same nouns without a colon are ordinary text
FOREIGN_STUFFED = [
    ("Funda iPhone 13. Palabras clave: funda iphone, carcasa iphone. Silicona suave.", "Funda iPhone 13. Silicona suave."),
    ("Capa iPhone 13. Pesquisas relacionadas: capa iphone, capinha", "Capa iPhone 13."),
    ("Coque iPhone 13. Mots-clés : coque iphone, étui iphone", "Coque iPhone 13."),
    ("Handyhülle\nSchlagwörter: iphone hülle, handyhülle\nWeiches Silikon", "Handyhülle Weiches Silikon"),
    ("Cover iPhone. Parole chiave: cover, custodia. Morbida.", "Cover iPhone. Morbida."),
    ("Telefoonhoes. Zoekwoorden: iphone hoesje, hoes", "Telefoonhoes."),
    ("手机壳 关键词：iphone 13 手机壳, 苹果壳", "手机壳"),
    ("スマホケース 関連検索 iphone ケース", "スマホケース"),
    ("휴대폰 케이스 키워드: 아이폰 케이스", "휴대폰 케이스"),
]
FOREIGN_ORDINARY = [
    "Etiquetas de precio incluidas, 100 unidades",
    "Étiquettes adhésives pour bocaux, 120 pièces",
    "Suchen Sie nicht weiter: robuste Hülle mit Kameraschutz",
    "Mot de passe oublié? Carte cadeau incluse",
    "标签打印机，支持蓝牙",
    "タグ付きのバッグ",
]


@pytest.mark.parametrize(("text", "kept"), FOREIGN_STUFFED)
def test_leads_in_other_languages_are_found_and_dropped(text, kept):
    assert has_keyword_stuffing(text)
    assert drop_keyword_stuffing(text) == kept


#: every lead alternative, so a cheap prefilter hint (`_LEAD_HINTS`) cannot silently skip one
EVERY_FOREIGN_LEAD = [
    "Palabras clave:", "Términos de búsqueda:", "Etiquetas:", "Búsquedas relacionadas", "Palavras-chave:",
    "Termos de pesquisa:", "Pesquisas populares", "Mots clés:", "Termes de recherche :", "Étiquettes :",
    "Recherches associées", "Suchbegriffe:", "Suchwörter:", "Schlagwörter:", "Schlüsselwörter:", "Stichwörter:",
    "Ähnliche Suchanfragen", "Verwandte Suchen", "Parole chiave:", "Termini di ricerca:", "Etichette:",
    "Ricerche correlate", "Zoekwoorden:", "Trefwoorden:", "Gerelateerde zoekopdrachten", "相关搜索", "熱門搜尋",
    "関連キーワード", "연관 검색어", "关键字:", "關鍵詞:", "搜尋詞:", "標籤:", "検索ワード:", "タグ:", "검색어:", "태그:",
]  # fmt: skip


@pytest.mark.parametrize("lead", EVERY_FOREIGN_LEAD)
def test_every_lead_in_other_languages_is_found(lead):
    assert drop_keyword_stuffing(f"Phone case\n{lead} iphone case, phone case") == "Phone case"


@pytest.mark.parametrize("text", FOREIGN_ORDINARY)
def test_list_nouns_in_other_languages_without_a_lead_pass(text):
    assert drop_keyword_stuffing(text) is text


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_listing_text_passes_unchanged(text):
    assert not has_keyword_stuffing(text)
    assert drop_keyword_stuffing(text) is text


@pytest.mark.parametrize(("text", "kept"), STUFFED)
def test_stuffing_is_found_and_dropped(text, kept):
    assert has_keyword_stuffing(text)
    assert drop_keyword_stuffing(text) == kept


def test_a_field_that_is_all_stuffing_keeps_one_copy():
    assert drop_keyword_stuffing("iphone 13 case iphone 13 case iphone 13 case") == "iphone 13 case"
    assert drop_keyword_stuffing("Tags: iphone, case") == ""


def test_full_width_and_zero_width_spellings_are_caught():
    assert has_keyword_stuffing("Mug ＲＥＬＡＴＥＤ ＳＥＡＲＣＨＥＳ： iphone case")
    assert has_keyword_stuffing("Mug iphone\u200b 13 case iphone 13 case")


def test_real_listings_pass_unchanged_but_two_repeating_chargers():
    pairs = load_pairs(FIXTURES / "esci_dev.csv") + load_pairs(FIXTURES / "esci_iphone_charger.csv")
    changed = sorted({p.product.id for p in pairs if drop_product_stuffing(p.product) is not p.product})
    assert changed == ["B07NSNX856", "B086BWHYC3"]  # "Phone Charger Phone Charger …": real stuffing


def test_synthetic_listings_are_rarely_touched():
    """The generator now and then repeats a descriptor its core already holds ("Pot with Lid | with Lid")."""
    pairs = generate(120, 6, 3)
    changed = [p for p in pairs if drop_product_stuffing(p.product) is not p.product]
    assert len(changed) <= len(pairs) // 100


def test_stuffed_attribute_keys_go_whole():
    product = Product(id="1", title="Mug", attributes={"color": "red", "Search Terms": "iphone 13 case", "note": "Tags: a b, a c"})
    assert drop_product_stuffing(product).attributes == {"color": "red"}
    feed = Product(id="2", title="Mug", attributes={"color": "red", "generic_keywords": "iphone 13 case", "search_terms": "usb cable"})
    assert product_has_keyword_stuffing(feed)  # feed-style keys name the list as well as a lead does
    assert drop_product_stuffing(feed).attributes == {"color": "red"}
    assert not product_has_keyword_stuffing(Product(id="3", title="Speaker", attributes={"research_area": "optics"}))
    assert not is_keyword_list_key("Voice search") and not is_keyword_list_key("voice_search_assistant")  # features


def test_the_robustness_eval_stuffing_is_mostly_caught():
    """The eval's own stuffing (training.data.injection): every paste behind a keyword-list lead, and every
    doubled one that ends its field, is dropped."""
    rng = random.Random(5)
    product = load_pairs(FIXTURES / "esci_dev.csv")[0].product
    for _ in range(40):
        text = stuffing_text("iphone 13 case", rng)
        for field in STUFFING_FIELDS:
            stuffed = with_text(product, field, text)
            # missed, by design: "Perfect for <query>" said once is an ordinary claim, and said twice
            # before more description text it reads like a model list ("iPhone 12, iPhone 12 Pro")
            claim = text.split()[0] in {"Also", "Perfect"}
            lone_claim = claim and (text.count("iphone 13 case") == 1 or field == "description")
            # the paste goes (and with it, before a description, the rest of the segment it opened)
            covered = lexical.coverage("iphone 13 case", product_text(drop_product_stuffing(stuffed)))
            assert covered <= lexical.coverage("iphone 13 case", product_text(product)) or lone_claim, (field, text)


def test_the_prompt_and_the_coverage_line_read_the_listing_without_stuffing(smollm2_tokenizer):
    renderer = PromptRenderer(smollm2_tokenizer, TAOSR1, coverage=True)
    product = Product(id="1", title="Clear case for Galaxy S21", description="Slim and light.")
    stuffed = with_text(product, "title", "Related searches: iphone 13 case, iphone 13 case")
    assert renderer.suffix_text(stuffed, "iphone 13 case") == renderer.suffix_text(product, "iphone 13 case")
    raw = PromptRenderer(smollm2_tokenizer, TAOSR1, coverage=True, drop_listing_stuffing=False)
    assert "Related searches" in raw.suffix_text(stuffed, "iphone 13 case")
    assert raw.coverage_text("iphone 13 case", stuffed) != renderer.coverage_text("iphone 13 case", stuffed)


def test_the_lexical_tier_is_not_moved_by_a_pasted_query():
    product = Product(id="1", title="Garden hose 50ft", description="Kink free, brass fittings.")
    stuffed = with_text(product, "description", "Keywords: iphone 13 case, iphone 13 case")
    clean, pasted = lexical.similarities(["iphone 13 case"] * 2, [product, stuffed])
    assert clean == pasted


def test_the_lexical_tier_folds_plurals_both_ways():
    # every word met (0.7); trigrams of the plural ending ("sse", "ses") are not
    assert lexical.coverage("spaghetti strap dresses", "Spaghetti Strap Dress") > 0.7 + 0.3 * 0.8
    assert lexical.words("dresses") == lexical.words("dress") == {"dress"}
    assert lexical.coverage("dress", "Summer Dresses") > lexical.coverage("dress", "Summer Skirt")
