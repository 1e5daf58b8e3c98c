"""The kiosk's on-screen keyboard turns pinyin letters into Chinese words and characters.

A touch screen has no system keyboard, yet nine kiosk items ask for text only the resident knows (生育登记's
配偶姓名, 就业登记's 就业单位, 居住登记's 本市居住地址). The expected readings below are the dictionary's
(现代汉语词典), not the index's: 张 is zhāng, 银行 yínháng (not yínxíng, which a reading without pypinyin's
phrases gives), 重庆 Chóngqìng, 绿 lǜ typed ``lv`` as every pinyin keyboard takes ü.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import pytest
from litestar.testing import TestClient

from edge.kiosk.app import create_app
from edge.kiosk.ime import FieldKind, PinyinIndex
from edge.runtime import EdgeRuntime
from edge.settings import EdgeSettings, KioskSettings
from protocol.catalogue import load_seed

FIRST_PAGE = 8  # candidates the keyboard shows at once


@pytest.fixture
def index(ime_index: Path) -> PinyinIndex:
    found = PinyinIndex(ime_index)
    assert found.ready()
    return found


@pytest.mark.parametrize(
    ("letters", "word", "used"),
    [
        ("zhang", "张", 5),
        ("wang", "王", 4),
        ("lv", "绿", 2),
        ("zh", "中", 2),  # a syllable not finished yet: its most frequent characters
        ("yinhang", "银行", 7),
        ("chongqing", "重庆", 9),
        ("pudongxinqu", "浦东新区", 11),
        ("youxiangongsi", "有限公司", 13),  # you xian gong si, not you xiang …
        ("shanghaishi", "上海市", 11),
    ],
)
def test_common_words_come_on_the_first_page(index, letters, word, used):
    first = [(c.text, c.used) for c in index.candidates(letters)[:FIRST_PAGE]]
    assert (word, used) in first, first


def test_the_longest_word_comes_first_then_shorter_then_characters(index):
    offered = [c.text for c in index.candidates("pudongxinqu")]
    assert offered[0] == "浦东新区"
    assert offered.index("浦东") < offered.index("浦")


@pytest.mark.parametrize(
    ("letters", "parts"),
    [
        ("xian", ["xian"]),  # one syllable, not xi an
        ("xiangongsi", ["xian", "gong", "si"]),
        ("zhangz", ["zhang", "z"]),
        ("lvse", ["lv", "se"]),
        ("changan", ["chang", "an"]),  # as few either way (chan gan): the longer first, 长安 not 蝉…
        ("pudongx", ["pu", "dong", "x"]),
    ],
)
def test_letters_are_cut_into_the_fewest_syllables(index, letters, parts):
    assert index.syllables(letters) == parts


@pytest.mark.parametrize(("letters", "rare"), [("zhe", "喆"), ("kun", "堃"), ("yan", "琰")])
def test_a_rare_character_of_a_name_can_still_be_found(index, letters, rare):
    assert rare in [c.text for c in index.candidates(letters)]


@pytest.mark.parametrize(
    ("letters", "kind", "word"),
    [
        ("changning", FieldKind.PLACE, "长宁"),  # cháng here; pypinyin reads it zhǎng, and 常宁 is in Hunan
        ("minhang", FieldKind.PLACE, "闵行"),  # Mǐnháng, not 民航 (civil aviation)
        ("xinzhuang", FieldKind.PLACE, "莘庄"),  # Xīnzhuāng, not shēn
        ("songjiangqu", FieldKind.TEXT, "松江区"),
        ("long", FieldKind.PLACE, "弄"),  # a lane, lòng in Shanghai
        ("shi", FieldKind.PLACE, "室"),
    ],
)
def test_an_address_gets_shanghais_places_by_their_local_reading_first(index, letters, kind, word):
    assert index.candidates(letters, kind)[0].text == word


@pytest.mark.parametrize(
    ("letters", "names"), [("wei", "伟魏韦"), ("yu", "宇"), ("qi", "琪"), ("yan", "闫"), ("tan", "覃")]
)
def test_a_name_field_offers_name_characters_on_the_first_page(index, letters, names):
    first = [c.text for c in index.candidates(letters, FieldKind.NAME)[:FIRST_PAGE]]
    assert set(names) <= set(first), first


@pytest.mark.parametrize("letters", ["xi", "lu", "wei", "jia", "hu", "wo", "shi"])
def test_no_garbled_character_crowds_the_first_pages(index, letters):
    """jieba counts mis-decoded text (鎴, 鐪, 鏀 thousands of times): every character on the first two pages
    is one of GB 2312's, the everyday simplified set."""
    for c in index.candidates(letters)[: FIRST_PAGE * 2]:
        c.text.encode("gb2312")


def test_lue_and_lve_both_find_the_same_characters(index):
    assert index.candidates("lue")[0].text == index.candidates("lve")[0].text == "略"


def test_a_character_is_offered_for_each_reading_the_usual_one_first(index):
    # 长: cháng (long), zhǎng (to grow); 见 read xiàn is classical only, and far down for xian
    assert "长" in [c.text for c in index.candidates("chang")[:FIRST_PAGE]]
    assert "长" in [c.text for c in index.candidates("zhang")[:FIRST_PAGE]]
    assert "见" not in [c.text for c in index.candidates("xian")[: FIRST_PAGE * 2]]


def test_an_index_built_from_other_word_lists_answers_while_the_new_one_is_built(index, tmp_path, monkeypatch):
    """The real path after an upgrade brought other word lists (and of a terminal not provisioned with an
    index): the first letters start the build in a child process — without pypinyin's lean switch, which
    the kiosk process runs with — and the old index answers meanwhile."""
    monkeypatch.setenv("PYPINYIN_NO_PHRASES", "1")  # as `shegong` sets it for the kiosk process
    old = tmp_path / "ime.sqlite"
    shutil.copy(index.path, old)
    with sqlite3.connect(old) as db:
        db.execute("DELETE FROM meta")  # built by something else entirely
    stale = PinyinIndex(old)
    assert not stale.is_current()
    assert stale.ready() and stale.candidates("yinhang")[0].text == "银行"  # the old one, meanwhile
    deadline = time.monotonic() + 150
    while not stale.is_current():
        assert time.monotonic() < deadline, "the index was not built again"
        time.sleep(0.5)
    assert stale.ready() and stale.candidates("yinhang")[0].text == "银行"
    assert not list(tmp_path.glob(".ime.sqlite.*")), "nothing half-written is left"


def test_an_index_that_went_away_is_looked_for_again_not_a_server_error(index, tmp_path):
    gone = tmp_path / "ime.sqlite"
    shutil.copy(index.path, gone)
    reader = PinyinIndex(gone)
    assert reader.ready()
    gone.unlink()
    assert reader.candidates("wang") == []  # logged; the next question builds it again
    reader.close()


def _kiosk(tmp_path: Path, index: Path) -> TestClient:
    runtime = EdgeRuntime(EdgeSettings(data_dir=tmp_path / "edge", min_free_disk_mb=0))
    config = KioskSettings(ime_index=index)
    return TestClient(create_app(runtime, None, config=config, catalogue=load_seed()))


def _let_in(client: TestClient) -> None:
    """As the kiosk's own browser: nothing else is served (the keyboard's words neither)."""
    assert client.get("/ime", params={"p": "wang"}).status_code == 403
    assert client.get(client.app.state.kiosk.gate.open_path).status_code == 200


def test_the_keyboard_asks_the_kiosk_for_candidates(tmp_path, ime_index):
    with _kiosk(tmp_path, ime_index) as client:
        _let_in(client)
        answer = client.get("/ime", params={"p": "wang"}).json()
        assert answer["ready"] is True and ["王", 4] in answer["candidates"][:FIRST_PAGE]
        for bad in ["", "Wang", "wang1", "wa ng", "王", "a" * 41]:
            refused = client.get("/ime", params={"p": bad})
            assert refused.status_code == 400, bad
        named = client.get("/ime", params={"p": "wei", "k": "name"}).json()["candidates"]
        assert ["伟", 3] in named[:FIRST_PAGE]
        assert client.get("/ime", params={"p": "wei", "k": "sql"}).status_code == 400


def test_a_kiosk_without_an_index_says_so_and_stops_the_build_when_it_stops(tmp_path):
    path = tmp_path / "ime.sqlite"
    with _kiosk(tmp_path, path) as client:
        _let_in(client)
        assert client.get("/ime", params={"p": "wang"}).json() == {"ready": False, "failed": False, "candidates": []}
        index = client.app.state.kiosk.ime
        assert index.building
    assert not index.building  # the kiosk's shutdown stopped its child
    assert not path.exists()


@pytest.mark.parametrize("letters", ["huangjun", "wangxiao", "zhangli", "chenjing", "wangmin"])
def test_a_name_field_offers_characters_not_words(index, letters):
    """皇军, 网校, 瘴疠 are no one's name: a name is typed character by character."""
    assert all(len(c.text) == 1 for c in index.candidates(letters, FieldKind.NAME))


def test_one_syllable_that_is_also_two_offers_their_word_after_the_first_page(index):
    offered = [c.text for c in index.candidates("xian")]
    assert offered[:3] == ["先", "县", "现"] and "西安" in offered[8:12]
