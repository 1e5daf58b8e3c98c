"""Pinyin input for the kiosk's on-screen keyboard: letters in, Chinese words and characters out.

A touch screen has no system keyboard, yet a 生育登记 asks for the spouse's name and a 就业登记 for the
employer. The resident taps pinyin letters; :meth:`PinyinIndex.candidates` offers what they may stand for,
most frequent first: whole words for the longest run of syllables (``pudongxinqu`` → 浦东新区), then
shorter runs, then characters of the first syllable (every reading: 长 is offered for chang and zhang).

The index is a SQLite file built once from jieba's word list (words and their frequency in a large
corpus) read through pypinyin, plus every character pypinyin knows, so a rare character in a name can
still be found. Building reads pypinyin's phrase dictionary (55 MB of memory) and takes seconds to a
minute, so it runs in a child process (``python -m edge.kiosk.ime PATH``): the kiosk process stays
small and answers "not ready" until the file is there. Provisioning builds it at install time.
"""

from __future__ import annotations

import contextlib
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

__all__ = ["Candidate", "PinyinIndex", "build", "start_build", "valid_letters"]

log = logging.getLogger(__name__)

#: What a resident may have typed: pinyin letters (v for ü), at most as long as the field allows.
_LETTERS = re.compile(r"[a-z]{1,40}")
#: jieba's words seen fewer times than this are mostly noise (and would double the index).
MIN_FREQ = 5
MAX_WORD = 4  # characters: 浦东新区; longer names are typed in parts
PER_RUN = 12  # words offered per run of syllables
OTHER_READING = 50  # a character's other readings count this many times less often
RETRY_S = 600.0  # a build that failed is tried again after this long, not at every letter
PER_SYLLABLE = 600  # characters for the first syllable: every one, so a rare one in a name is there to page to


def valid_letters(text: str) -> bool:
    return _LETTERS.fullmatch(text) is not None


def _version() -> str:
    """What the index is built from: a new jieba or pypinyin (or this format) builds it again."""
    return f"1;jieba={metadata.version('jieba')};pypinyin={metadata.version('pypinyin')};min={MIN_FREQ}"


@dataclass(frozen=True)
class Candidate:
    text: str  # what a tap puts into the field
    used: int  # how many of the typed letters it stands for (the rest stay typed)


def _hanzi(word: str) -> bool:
    return all(0x4E00 <= ord(ch) <= 0x9FFF for ch in word)  # CJK Unified Ideographs


def build(path: Path) -> None:
    """Write the index to ``path`` (atomically: a reader sees the old file or the whole new one)."""
    if os.environ.get("PYPINYIN_NO_PHRASES"):
        raise RuntimeError("build the index with pypinyin's phrases (start_build clears PYPINYIN_NO_PHRASES)")
    from pypinyin import Style, lazy_pinyin, pinyin
    from pypinyin.pinyin_dict import pinyin_dict

    freq: dict[str, int] = {}
    words: list[tuple[str, str, int, int]] = []
    text = (resources.files("jieba") / "dict.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        word, count, *_ = line.split()
        if not (1 <= len(word) <= MAX_WORD and _hanzi(word)):
            continue
        if len(word) == 1:
            freq[word] = freq.get(word, 0) + int(count)
        elif int(count) >= MIN_FREQ:
            words.append(("".join(lazy_pinyin(word, v_to_u=False)), word, len(word), int(count)))
    for code in pinyin_dict:
        ch = chr(code)
        if not _hanzi(ch):
            continue
        readings = [r for r in pinyin(ch, style=Style.NORMAL, heteronym=True)[0] if r.isascii() and r.isalpha()]
        for rank, reading in enumerate(dict.fromkeys(readings)):
            # the first reading is the usual one: 见 is jian, and offered for xian only far down
            words.append((reading, ch, 1, freq.get(ch, 0) // (1 if rank == 0 else OTHER_READING)))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.unlink(missing_ok=True)
    db = sqlite3.connect(partial)
    try:
        db.executescript(
            "CREATE TABLE meta(version TEXT NOT NULL);"
            "CREATE TABLE word(py TEXT NOT NULL, word TEXT NOT NULL, n INTEGER NOT NULL, freq INTEGER NOT NULL);"
        )
        db.execute("INSERT INTO meta VALUES (?)", (_version(),))
        db.executemany("INSERT INTO word VALUES (?, ?, ?, ?)", words)
        db.execute("CREATE INDEX word_py ON word(py, n, freq DESC)")
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
    """The index at ``path``, built in a child process the first time it is asked for and missing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._building: subprocess.Popen[bytes] | None = None
        self._syllables: frozenset[str] | None = None
        self._failed_at: float | None = None

    def ready(self) -> bool:
        """True when the index answers; otherwise start building it (once) and say False."""
        with self._lock:
            if self._syllables is not None:
                return True
            if self._building is not None and self._building.poll() is None:
                return False
            if self._building is not None and self._building.returncode != 0:
                code = self._building.returncode
                log.error("building the pinyin index %s failed (exit %s): letters only for now", self.path, code)
                self._failed_at = time.monotonic()
            self._building = None
            if self._failed_at is not None and time.monotonic() - self._failed_at < RETRY_S:
                return False
            try:
                self._syllables = self._load()
                return True
            except (sqlite3.Error, _Stale) as e:
                log.info("pinyin index %s: %s; building it", self.path, e)
            self._building = start_build(self.path)
            return False

    def is_current(self) -> bool:
        """Whether the file is there and built from the word lists installed now (nothing is started)."""
        try:
            self._load()
            return True
        except (sqlite3.Error, _Stale):
            return False

    def _load(self) -> frozenset[str]:
        if not self.path.exists():
            raise _Stale("not built yet")
        with contextlib.closing(self._connect()) as db:
            (version,) = db.execute("SELECT version FROM meta").fetchone()
            if version != _version():
                raise _Stale(f"built from {version}, now {_version()}")
            return frozenset(py for (py,) in db.execute("SELECT DISTINCT py FROM word WHERE n = 1"))

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)

    def syllables(self, letters: str) -> list[str]:
        """``letters`` cut into the fewest pinyin syllables (``xian`` stays one, ``xiangongsi`` is xian gong
        si); a tail that is no syllable yet (``zh``) is the last part."""
        known = self._syllables or frozenset()
        # best[i]: the fewest syllables that spell letters[:i] (None: none do); ties keep the longer first part
        best: list[list[str] | None] = [[]] + [None] * len(letters)
        for end in range(1, len(letters) + 1):
            for start in range(max(0, end - 6), end):
                head, now = best[start], best[end]
                if head is not None and letters[start:end] in known and (now is None or len(head) + 1 < len(now)):
                    best[end] = [*head, letters[start:end]]
        for end in range(len(letters), -1, -1):
            head = best[end]
            if head is not None:
                return head + ([letters[end:]] if end < len(letters) else [])
        return [letters]  # unreachable: best[0] is []

    def candidates(self, letters: str) -> list[Candidate]:
        """What ``letters`` may stand for, best first; empty while the index is not ready."""
        if not valid_letters(letters) or not self.ready():
            return []
        parts = self.syllables(letters)
        known = self._syllables or frozenset()
        whole = [p for p in parts if p in known]
        found: dict[str, Candidate] = {}
        with contextlib.closing(self._connect()) as db:
            for n in range(min(len(whole), MAX_WORD), 1, -1):
                py = "".join(whole[:n])
                for (word,) in db.execute(
                    "SELECT word FROM word WHERE py = ? AND n = ? ORDER BY freq DESC LIMIT ?", (py, n, PER_RUN)
                ):
                    found.setdefault(word, Candidate(word, len(py)))
            first = parts[0]
            if first in known:
                rows = db.execute(
                    "SELECT word FROM word WHERE py = ? AND n = 1 ORDER BY freq DESC LIMIT ?", (first, PER_SYLLABLE)
                )
            else:  # zh: the characters of zha, zhang, zhe …, the most frequent first
                rows = db.execute(
                    "SELECT word FROM word WHERE py >= ? AND py < ? AND n = 1 GROUP BY word ORDER BY max(freq) DESC"
                    " LIMIT ?",
                    (first, first + "{", PER_SYLLABLE),
                )
            for (word,) in rows:
                found.setdefault(word, Candidate(word, len(first)))
        return list(found.values())


class _Stale(Exception):
    """The index file is missing or was built from other data."""


if __name__ == "__main__":  # the child process PinyinIndex starts; also `python -m edge.kiosk.ime PATH`
    os.nice(10)  # a resident at the kiosk comes first
    build(Path(sys.argv[1]))
