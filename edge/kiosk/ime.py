"""Pinyin input for the kiosk's on-screen keyboard: letters in, Chinese words and characters out.

A touch screen has no system keyboard, yet a 生育登记 asks for the spouse's name and a 就业登记 for the
employer. The resident taps pinyin letters; :meth:`PinyinIndex.candidates` offers what they may stand for,
most frequent first: whole words for the longest run of syllables (``pudongxinqu`` → 浦东新区), then
shorter runs, then characters of the first syllable (every reading: 长 is offered for chang and zhang).
A field's kind puts its own words first: Shanghai's districts, streets, towns and address words (with
their local reading: 长宁 chang, 闵行 hang, 弄 long) in an address, name characters in a name
(``ime_words.json``).

The index is a SQLite file built once from jieba's word list (words and their frequency in a large
corpus) read through pypinyin, plus every character pypinyin knows, so a rare character in a name can
still be found. Building reads pypinyin's phrase dictionary (55 MB of memory) and takes seconds to a
minute, so it runs in a child process (``python -m edge.kiosk.ime PATH``): the kiosk process stays
small, answers from the old index (or "not ready") meanwhile. Provisioning builds it at install time.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import json
import logging
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import Any

__all__ = ["Candidate", "FieldKind", "PinyinIndex", "build", "start_build", "valid_letters"]

log = logging.getLogger(__name__)

#: What a resident may have typed: pinyin letters (v for ü), at most as long as the field allows.
_LETTERS = re.compile(r"[a-z]{1,40}")
#: jieba's words seen fewer times than this are mostly noise (and would double the index).
MIN_FREQ = 5
MAX_WORD = 4  # characters: 浦东新区; longer names are typed in parts
OTHER_READING = 50  # a character's other readings count this many times less often, where no word tells
PER_RUN = 12  # words offered per run of syllables
PER_SYLLABLE = 600  # characters for the first syllable: every one, so a rare one in a name is there to page to
ADDRESS_WORD = 10**9  # above any corpus count: 弄 before 龙 in an address
SPLIT_AFTER = 8  # a first page of candidates before the words of another cut (xian: 西安 after 先县现)
RETRY_S = 600.0  # a build that failed is tried again after this long, not at every letter
BUILD_TIMEOUT_S = 900.0  # a build still running after this is stopped (and counts as failed)
#: Ideographs a character may be: the 20,902 of Unicode's first CJK block, which every Chinese font of the
#: kiosk's (Noto Sans CJK SC, WenQuanYi Micro Hei) draws; a character of extension A would show as a box.
_IDEOGRAPHS = ((0x4E00, 0x9FA5),)


class FieldKind(enum.StrEnum):
    """What a text field holds: its own words come first."""

    TEXT = "text"
    PLACE = "place"  # an address or a place: 本市居住地址, 就医地
    NAME = "name"  # a person's name: 配偶姓名


def valid_letters(text: str) -> bool:
    return _LETTERS.fullmatch(text) is not None


def _words_file() -> Any:
    return resources.files("edge.kiosk") / "ime_words.json"


def _version() -> str:
    """What the index is built from: other word lists, settings or format build it again."""
    # this module's text too: a change to how the index is built builds it again (no number to remember)
    ours = hashlib.sha256(_words_file().read_bytes() + Path(__file__).read_bytes()).hexdigest()[:12]
    versions = f"jieba={metadata.version('jieba')};pypinyin={metadata.version('pypinyin')}"
    return f"{versions};ours={ours}"


@dataclass(frozen=True)
class Candidate:
    text: str  # what a tap puts into the field
    used: int  # how many of the typed letters it stands for (the rest stay typed)


def _ideograph(ch: str) -> bool:
    return any(low <= ord(ch) <= high for low, high in _IDEOGRAPHS)


def _common(word: str) -> bool:
    """Every character in GB 2312, the 6,763 characters of everyday simplified Chinese. jieba's counts of
    others are mostly mis-decoded text (鎴, 鐪 counted thousands of times): they count for nothing."""
    try:
        word.encode("gb2312")
        return True
    except UnicodeEncodeError:
        return False


def build(path: Path) -> None:
    """Write the index to ``path`` (atomically: a reader sees the old file or the whole new one)."""
    if os.environ.get("PYPINYIN_NO_PHRASES"):
        raise RuntimeError("build the index with pypinyin's phrases (start_build clears PYPINYIN_NO_PHRASES)")
    from pypinyin import Style, lazy_pinyin, pinyin
    from pypinyin.pinyin_dict import pinyin_dict

    def readings(ch: str) -> list[str]:
        found = [r for r in pinyin(ch, style=Style.NORMAL, heteronym=True)[0] if r.isascii() and r.isalpha()]
        return list(dict.fromkeys(found))

    freq: dict[str, int] = {}  # character → how often jieba's corpus has it
    heard: dict[str, dict[str, int]] = {}  # character → reading → how often its words read it so
    rows: list[tuple[str, str, int, int, str]] = []  # py, word, characters, frequency, kind
    text = (resources.files("jieba") / "dict.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        word, count, *_ = line.split()
        if not (1 <= len(word) <= MAX_WORD and all(map(_ideograph, word)) and _common(word)):
            continue
        if len(word) == 1:
            freq[word] = freq.get(word, 0) + int(count)
        elif int(count) >= MIN_FREQ:
            syllables = lazy_pinyin(word, v_to_u=False)
            rows.append(("".join(syllables), word, len(word), int(count), ""))
            for ch, py in zip(word, syllables, strict=True):
                seen = heard.setdefault(ch, {})
                seen[py] = seen.get(py, 0) + int(count)

    def weighted(ch: str) -> list[tuple[str, int]]:
        """Each reading of ``ch`` with the share of its frequency the words it is in give that reading (长
        is zhang in 成长 and 校长, chang in 长期); without such words, the usual reading has it all and each
        other a fiftieth."""
        options, seen = readings(ch), heard.get(ch, {})
        total = sum(seen.get(r, 0) for r in options)
        if not total:
            out = [(r, freq.get(ch, 0) // (1 if i == 0 else OTHER_READING)) for i, r in enumerate(options)]
        else:
            out = [(r, freq.get(ch, 0) * (seen.get(r, 0) + 1) // (total + len(options))) for r in options]
        # lve and nve are how pinyin keyboards take lüe and nüe; lue and nue are typed as often
        return out + [(r.replace("ve", "ue"), f) for r, f in out if r in ("lve", "nve")]

    for code in pinyin_dict:
        ch = chr(code)
        if _ideograph(ch):
            rows += [(py, ch, 1, f, "") for py, f in weighted(ch)]
    ours = json.loads(_words_file().read_text(encoding="utf-8"))
    places: dict[tuple[str, str], int] = {}  # (reading, character) → its frequency, for an address's characters
    for word, spelled in ours["place"].items():
        syllables = spelled.split()  # one per character: the tests check the file so
        if len(word) > 1:
            rows.append(("".join(syllables), word, len(word), 0, FieldKind.PLACE.value))
        for ch, syllable in zip(word, syllables, strict=True):  # 莘 of 莘庄 is xin in an address
            places[(syllable, ch)] = max(places.get((syllable, ch), 0), freq.get(ch, 0))
        if len(word) == 1:  # an address's own word (弄, 号, 室): before the characters of places (龙华's 龙)
            places[(syllables[0], word)] = ADDRESS_WORD + freq.get(word, 0)
    rows += [(py, ch, 1, f, FieldKind.PLACE.value) for (py, ch), f in places.items()]
    for ch in dict.fromkeys(ours["surname"] + ours["given"]):
        weights = weighted(ch)
        most = max(f for _, f in weights)
        # a name's character by its readings in use: 方 is fang, not one of its rare readings before 王
        rows += [(py, ch, 1, f, FieldKind.NAME.value) for py, f in weights if f * 10 >= most or py == weights[0][0]]
    _write(path, rows)


def _write(path: Path, rows: list[tuple[str, str, int, int, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in path.parent.glob(f".{path.name}.*"):  # left by a build that was killed
        with contextlib.suppress(ValueError, OSError):
            if not Path(f"/proc/{int(old.suffix[1:])}").exists():
                old.unlink()
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.unlink(missing_ok=True)
    db = sqlite3.connect(partial)
    try:
        db.executescript(
            "CREATE TABLE meta(version TEXT NOT NULL);"
            "CREATE TABLE word(py TEXT NOT NULL, word TEXT NOT NULL, n INTEGER NOT NULL, freq INTEGER NOT NULL,"
            " kind TEXT NOT NULL);"
        )
        db.execute("INSERT INTO meta VALUES (?)", (_version(),))
        db.executemany("INSERT INTO word VALUES (?, ?, ?, ?, ?)", rows)
        db.execute("CREATE INDEX word_py ON word(py, n)")
        db.commit()
    finally:
        db.close()
    os.replace(partial, path)


def start_build(path: Path) -> subprocess.Popen[bytes]:
    """:func:`build` in a child process, at low priority. The child reads words with pypinyin's phrase
    dictionary, which the kiosk process leaves out (``PYPINYIN_NO_PHRASES``): 银行 is yinhang, not yinxing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYPINYIN_")}
    return subprocess.Popen(  # noqa: S603 - our own module, no shell
        [sys.executable, "-m", "edge.kiosk.ime", str(path)], stdin=subprocess.DEVNULL, env=env
    )


class PinyinIndex:
    """The index at ``path``. Missing or built from other word lists, it is built (again) in a child process
    at the first question; an old index answers meanwhile."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._building: subprocess.Popen[bytes] | None = None
        self._build_started = 0.0
        self._syllables: frozenset[str] | None = None
        self._prefixes: frozenset[str] = frozenset()
        self._failed_at: float | None = None

    def ready(self) -> bool:
        """True when an index answers; otherwise (or when it is out of date) start building one, once."""
        with self._lock:
            if self._building is not None:
                code = self._building.poll()
                if code is None and time.monotonic() - self._build_started > BUILD_TIMEOUT_S:
                    self._building.kill()
                    code = self._building.wait()
                if code is None:
                    return self._syllables is not None  # the old index answers until the new one is there
                if code != 0:
                    log.error(
                        "building the pinyin index %s failed (exit %s): no Chinese words for now", self.path, code
                    )
                    self._failed_at = time.monotonic()
                self._building, self._syllables = None, None  # read what is there now
            if self._syllables is not None:
                return True
            current = False
            try:
                self._syllables, current = self._load()
            except (sqlite3.Error, _Stale) as e:
                log.info("pinyin index %s: %s", self.path, e)
            if not current and (self._failed_at is None or time.monotonic() - self._failed_at >= RETRY_S):
                log.info("building the pinyin index %s", self.path)
                self._building, self._build_started = start_build(self.path), time.monotonic()
            if self._syllables is not None:
                self._prefixes = frozenset(s[:i] for s in self._syllables for i in range(1, len(s) + 1))
            return self._syllables is not None

    def close(self) -> None:
        """Stop a build still running (its partial file is removed by the next build)."""
        with self._lock:
            if self._building is not None and self._building.poll() is None:
                self._building.kill()
                self._building.wait()
            self._building = None

    @property
    def building(self) -> bool:
        """A child process is building the index now."""
        return self._building is not None and self._building.poll() is None

    @property
    def failed(self) -> bool:
        """No index answers and the last build failed: the keyboard says so (instead of "please wait")."""
        return self._syllables is None and self._building is None and self._failed_at is not None

    def is_current(self) -> bool:
        """Whether the file is there and built from the word lists installed now (nothing is started)."""
        try:
            return self._load()[1]
        except (sqlite3.Error, _Stale):
            return False

    def _load(self) -> tuple[frozenset[str], bool]:
        """The syllables the index knows, and whether it was built from what is installed now."""
        if not self.path.exists():
            raise _Stale("not built yet")
        with contextlib.closing(self._connect()) as db:
            version = db.execute("SELECT version FROM meta").fetchone()
            known = frozenset(py for (py,) in db.execute("SELECT DISTINCT py FROM word WHERE n = 1"))
        if not known:
            raise _Stale("empty")
        return known, version is not None and version[0] == _version()

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)

    def syllables(self, letters: str) -> list[str]:
        """``letters`` cut into the fewest pinyin syllables, the longest first where as few do (``xian`` is
        one, ``xiangongsi`` xian gong si, ``changan`` chang an); a tail that is no syllable yet (``zh``) is
        the last part."""
        known, prefixes, n = self._syllables or frozenset(), self._prefixes, len(letters)
        best: list[list[str] | None] = [None] * n + [[]]  # best[i]: the parts of letters[i:]
        for i in range(n - 1, -1, -1):
            for j in range(min(n, i + 6), i, -1):  # the longest first: on a tie it stays
                rest = best[j]
                if (
                    letters[i:j] in known
                    and rest is not None
                    and (best[i] is None or len(rest) + 1 < len(best[i] or ()))
                ):
                    best[i] = [letters[i:j], *rest]
            if best[i] is None and letters[i:] in prefixes:
                best[i] = [letters[i:]]
        return best[0] or [letters]

    def candidates(self, letters: str, kind: FieldKind = FieldKind.TEXT) -> list[Candidate]:
        """What ``letters`` may stand for, best first (``kind``'s own words before others); empty while no
        index is ready."""
        if not valid_letters(letters) or not self.ready():
            return []
        try:
            return self._candidates(letters, kind)
        except sqlite3.Error as e:  # the file went (a disk error, someone removed it): read it again, or build
            log.warning("pinyin index %s unreadable: %s", self.path, e)
            with self._lock:
                self._syllables = None
            return []

    def _candidates(self, letters: str, kind: FieldKind) -> list[Candidate]:
        parts = self.syllables(letters)
        known = self._syllables or frozenset()
        whole = [p for p in parts if p in known]
        own = "" if kind is FieldKind.TEXT else kind.value
        grouped = "GROUP BY word, kind = ? ORDER BY kind = ? DESC, max(freq) DESC LIMIT ?"
        words: dict[str, Candidate] = {}
        chars: dict[str, Candidate] = {}
        with contextlib.closing(self._connect()) as db:
            # a name is its characters: the words of 'huangjun' or 'wangxiao' (皇军, 网校) are no one's name
            for n in range(min(len(whole), MAX_WORD), 1, -1) if kind is not FieldKind.NAME else ():
                py = "".join(whole[:n])
                for (word,) in db.execute(
                    f"SELECT word FROM word WHERE py = ? AND n = ? {grouped}", (py, n, own, own, PER_RUN)
                ):
                    words.setdefault(word, Candidate(word, len(py)))
            first = parts[0]
            if first in known:
                rows = db.execute(
                    f"SELECT word FROM word WHERE py = ? AND n = 1 {grouped}", (first, own, own, PER_SYLLABLE)
                )
            else:  # zh: the characters of zha, zhang, zhe …, the most frequent first
                query = f"SELECT word FROM word WHERE py >= ? AND py < ? AND n = 1 {grouped}"
                rows = db.execute(query, (first, first + "{", own, own, PER_SYLLABLE))
            for (word,) in rows:
                chars.setdefault(word, Candidate(word, len(first)))
            # one syllable that is also two (xian: xi an): their words after the first page, 西安 after 先县现
            split = (
                []
                if kind is FieldKind.NAME or len(parts) != 1
                else db.execute(
                    f"SELECT word FROM word WHERE py = ? AND n = 2 {grouped}", (letters, own, own, PER_RUN)
                ).fetchall()
            )
        found = list(words.values()) + [c for c in chars.values() if c.text not in words]
        later = [Candidate(word, len(letters)) for (word,) in split if word not in words]
        return found[:SPLIT_AFTER] + later + found[SPLIT_AFTER:]


class _Stale(Exception):
    """The index file is missing or holds nothing."""


if __name__ == "__main__":  # the child process PinyinIndex starts; also `python -m edge.kiosk.ime PATH`
    os.nice(10)  # a resident at the kiosk comes first
    build(Path(sys.argv[1]))
