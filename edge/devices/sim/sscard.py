"""A social-security card reader library built on the spot: a C ``iReadCardBas`` driven by a file.

:meth:`SSCardSim.build` compiles a small shared library (``cc`` must be installed) whose
``iReadCardBas`` answers from a control file fixed at build time, so the driver loads it exactly as it
loads a vendor's. The control file is written atomically by :meth:`place`, :meth:`remove`,
:meth:`fail` and :meth:`hang`, from Python or from ``shegong sim sscard …``:

- missing or empty: no card (-2)
- ``card`` then a line of GB18030 bytes: that record, return 0
- ``error CODE`` then a message line: return CODE (e.g. -11, reader not connected)
- ``hang MS``: sleep MS milliseconds, then no card
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from edge.devices.sim.identities import Identity, add_years, identity

__all__ = ["C_SOURCE", "LIBRARY_NAME", "SSCardSim", "record_for"]

LIBRARY_NAME = "libshegong_sscard_sim.so"

C_SOURCE = r"""
/* Simulated vendor library for the national social-security card API (see edge/devices/sim/sscard.py). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SHEGONG_CONTROL
#define SHEGONG_CONTROL ""
#endif
#define OUT_MAX 1023 /* vendors document a 1024-byte pOutInfo */

static int answer(char *out, int code, const char *msg) {
    strncpy(out, msg, OUT_MAX);
    out[OUT_MAX] = '\0';
    return code;
}

int iReadCardBas(int iType, char *pOutInfo) {
    const char *path = SHEGONG_CONTROL[0] ? SHEGONG_CONTROL : getenv("SHEGONG_SSCARD_CONTROL");
    char buf[OUT_MAX + 1];
    size_t n;
    FILE *f;
    char *body;
    if (iType < 1 || iType > 4) return answer(pOutInfo, -14, "bad iType");
    if (path == NULL || (f = fopen(path, "rb")) == NULL) return answer(pOutInfo, -2, "no card");
    n = fread(buf, 1, OUT_MAX, f);
    fclose(f);
    buf[n] = '\0';
    body = strchr(buf, '\n');
    body = body ? body + 1 : buf + n;
    if (strchr(body, '\n')) *strchr(body, '\n') = '\0';
    if (strncmp(buf, "card", 4) == 0) return answer(pOutInfo, 0, body);
    if (strncmp(buf, "error ", 6) == 0) return answer(pOutInfo, atoi(buf + 6), body);
    if (strncmp(buf, "hang ", 5) == 0) {
        usleep((useconds_t)atoi(buf + 5) * 1000);
        return answer(pOutInfo, -2, "no card");
    }
    return answer(pOutInfo, -2, "no card");
}
"""


def record_for(person: Identity, *, card_number: str = "", region: str | None = None) -> str:
    """The ``iReadCardBas`` record of ``person``'s card (issued with the ID card, valid ten years)."""
    number = person.id_number
    area = region or ("310000" if number.startswith("31") else number[:4] + "00")
    issued = person.valid_from
    expires = add_years(issued, 10)
    return "|".join(
        [
            area,
            number,
            card_number or f"A{number[6:14]}",
            f"{area}D156000005{number[-8:]}".ljust(32, "0"),
            person.name,
            "3B6C00000000000000000000",
            "3.00",
            f"{issued:%Y%m%d}",
            f"{expires:%Y%m%d}",
            "SHEGONG01",
            "SIM0000001",
            "",
        ]
    )


class SSCardSim:
    """The library and its control file in ``directory``."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.control = self.directory / "card"
        self.library = self.directory / LIBRARY_NAME

    def build(self, cc: str | None = None) -> Path:
        """Compile the library (once; again only if missing). Returns its path."""
        if self.library.exists():
            return self.library
        compiler = cc or shutil.which("cc") or shutil.which("gcc")
        if compiler is None:
            raise RuntimeError("no C compiler (cc or gcc) to build the simulated social-security library")
        self.directory.mkdir(parents=True, exist_ok=True)
        source = self.directory / "sscard_sim.c"
        source.write_text(C_SOURCE)
        control = str(self.control.resolve()).replace("\\", "\\\\").replace('"', '\\"')
        tmp = self.library.with_suffix(".tmp.so")
        subprocess.run(
            [compiler, "-shared", "-fPIC", "-O2", f'-DSHEGONG_CONTROL="{control}"', "-o", str(tmp), str(source)],
            check=True,
            capture_output=True,
            timeout=60,
        )
        tmp.replace(self.library)
        return self.library

    def place(self, who: Identity | str, **record: str) -> Identity:
        """Insert ``who``'s card (a key, a name or an :class:`Identity`)."""
        person = identity(who) if isinstance(who, str) else who
        self._write(b"card\n" + record_for(person, **record).encode("gb18030") + b"\n")
        return person

    def remove(self) -> None:
        self._write(b"")

    def fail(self, code: int, message: str = "") -> None:
        """Answer ``code`` (e.g. -11: reader not connected) until changed."""
        self._write(f"error {code}\n".encode() + message.encode("gb18030") + b"\n")

    def hang(self, milliseconds: int) -> None:
        """Make each call block for ``milliseconds`` (a wedged vendor library)."""
        self._write(f"hang {milliseconds}\n".encode())

    def _write(self, content: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.control.with_name(f".{self.control.name}.tmp")
        tmp.write_bytes(content)
        tmp.replace(self.control)  # atomic: the library never reads half a card
