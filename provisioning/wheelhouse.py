"""The wheels a terminal installs from, built on the administrator's machine (terminals have no internet).

``build`` runs ``pip wheel`` for the project and its ``edge`` dependencies into a folder; ``pack`` makes
that folder one tar with a stable name (``VERSION-SHA8``, the hash of every wheel in it) and stable
bytes, so a second ``apply`` uploads nothing, and two builds of different code are two releases side by
side on the terminal. Build on a machine of the terminals' kind (aarch64 for a Raspberry Pi), or name
its platform: pip then fetches binary wheels made for it (``--platform manylinux2014_aarch64``).
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from provisioning.errors import ProvisioningError

__all__ = ["REPRODUCIBLE_EPOCH", "Release", "build", "pack"]

PROJECT = Path(__file__).resolve().parent.parent
RELEASES = "/opt/shegong/releases"  # on the terminal, side by side
REPRODUCIBLE_EPOCH = "315532800"  # 1980-01-01, the earliest date a zip file holds
#: Pure-Python dependencies published only as source: built here into wheels every platform installs
#: (``--only-binary`` would find nothing for them on another platform).
SOURCE_ONLY = ("jieba>=0.42",)


@dataclass(frozen=True)
class Release:
    """A wheelhouse packed as one tar on the administrator's machine; ``name`` is ``VERSION-SHA8``."""

    name: str
    tar: Path

    @property
    def path(self) -> str:
        return f"{RELEASES}/{self.name}"


def build(out: Path, extra: str = "edge,hub", platform: str | None = None, project: Path = PROJECT) -> Path:
    """``pip wheel`` the project with ``extra`` into ``out``; returns ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.whl"):
        old.unlink()
    pip = [sys.executable, "-m", "pip"]
    if platform:
        # Another platform's wheels: pip builds only ours (pure Python) and fetches binaries for the rest.
        _pip([*pip, "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(project), *SOURCE_ONLY])
        cmd = [*pip, "download", "--quiet", "--dest", str(out), "--only-binary=:all:", "--platform", platform]
        cmd += ["--find-links", str(out), f"shegong[{extra}]"]
    else:
        cmd = [*pip, "wheel", "--quiet", "--wheel-dir", str(out), f"{project}[{extra}]"]
    _pip(cmd)
    return out


def _pip(cmd: list[str]) -> None:
    # Zip entries dated by SOURCE_DATE_EPOCH, not by the build's clock: the same code makes the same wheel,
    # so the same release name, and a rebuilt wheelhouse uploads and installs nothing new.
    env = {**os.environ, "SOURCE_DATE_EPOCH": os.environ.get("SOURCE_DATE_EPOCH", REPRODUCIBLE_EPOCH)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise ProvisioningError(f"building the wheelhouse failed:\n{done.stderr.strip()[-2000:]}")


def pack(wheelhouse: Path) -> Release:
    """The release in ``wheelhouse``: one tar next to it (made once, same bytes every time)."""
    wheels = sorted(wheelhouse.glob("*.whl"))
    ours = [w for w in wheels if w.name.startswith("shegong-")]
    if not ours:
        raise ProvisioningError(
            f"no shegong wheel in {wheelhouse}: build it first with `shegong provision wheelhouse {wheelhouse}`"
        )
    version = ours[0].name.split("-")[1]
    digest = hashlib.sha256()
    for w in wheels:
        digest.update(w.name.encode() + b"\0" + hashlib.sha256(w.read_bytes()).digest())
    name = f"{version}-{digest.hexdigest()[:8]}"
    tar = wheelhouse.parent / f"{wheelhouse.name}-{name}.tar"
    if not tar.exists():
        tmp = tar.with_suffix(".tmp")
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as out:
            for w in wheels:
                info = tarfile.TarInfo(w.name)
                info.size, info.mode, info.mtime = w.stat().st_size, 0o644, 0
                out.addfile(info, io.BytesIO(w.read_bytes()))
        tmp.replace(tar)
    return Release(name=name, tar=tar)
