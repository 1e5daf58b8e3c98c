"""The hub's nightly backup and its restore: SQLite through its online backup API, PostgreSQL through
``pg_dump`` (custom format) and ``pg_restore``; each backup encrypted to the backup public key.

Each backup is checked before it counts — SQLite's ``PRAGMA integrity_check`` on the copy, ``pg_restore
--list`` reading the whole dump's table of contents — and ``backups_kept`` are kept, oldest removed
first. The PostgreSQL password goes to the tools in ``PGPASSWORD``, never on their command line (a process
list shows that).

Backups hold every resident's name, ID number and case, and are copied off the hub (that is what they are
for), so each is encrypted to ``backup_public_key``, whose private half is kept offline: neither a lost
copy nor the hub itself, stolen, can read one. The copy is made and checked in clear in a 0600 ``.partial``
file of the 0700 backup folder, encrypted into another, then removed on every path; the ones a night cut
short (power cut, kill) left are removed by the next backup. ``backup_public_key`` unset (a hub upgraded
from before it): backups go on in clear, each one with a warning in the log and ``encrypted 0`` in the
night's counts — a night with no backup would lose more than a clear one exposes.

The format (``hub-<stamp>.db.sealed`` / ``.dump.sealed``): :data:`MAGIC`; the public half of the hub's
backup signing key (32 bytes; derived from its audit key, :attr:`AuditKey.backup_signing_key`); a random
32-byte file key in a libsodium sealed box to the backup public key (80 bytes); libsodium's secretstream
(XChaCha20-Poly1305) under that key: its 24-byte header, then the clear file in chunks of :data:`CHUNK`
bytes (the last shorter, possibly empty), each 17 bytes longer encrypted, the last one tagged ``FINAL``;
last, an Ed25519 signature (64 bytes) of ``shegong/backup2\n`` and the SHA-256 of everything before it.
A wrong key, a changed byte, a cut file or one with bytes beyond the signature is refused as a whole
before anything is written to the database. Anyone with the public key can encrypt such a file; only the
hub's audit key signs it, so a restore takes only the hub's own backups: one signed by another key (another
hub's, or planted where backups are kept) is refused. A backup without a signature — in clear, or sealed
before backups were signed (``shegong-backup1``) — is restored only when asked (``--unsigned``).

A restore writes a backup over the database (the hub stopped), decrypted with the private key file first
(into the backup folder, 0600, removed after). What terminals sent after it was made is lost at the hub
only: the terminals' nightly reconciliation sends it again from their sealed copies.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from nacl.bindings import crypto_secretstream_xchacha20poly1305_ABYTES as _ABYTES
from nacl.bindings import crypto_secretstream_xchacha20poly1305_HEADERBYTES as _HEADERBYTES
from nacl.bindings import crypto_secretstream_xchacha20poly1305_init_pull as _init_pull
from nacl.bindings import crypto_secretstream_xchacha20poly1305_init_push as _init_push
from nacl.bindings import crypto_secretstream_xchacha20poly1305_keygen as _keygen
from nacl.bindings import crypto_secretstream_xchacha20poly1305_pull as _pull
from nacl.bindings import crypto_secretstream_xchacha20poly1305_push as _push
from nacl.bindings import crypto_secretstream_xchacha20poly1305_state as _State
from nacl.bindings import crypto_secretstream_xchacha20poly1305_TAG_FINAL as _FINAL
from nacl.bindings import crypto_secretstream_xchacha20poly1305_TAG_MESSAGE as _MESSAGE
from nacl.exceptions import BadSignatureError, CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.signing import SigningKey, VerifyKey
from sqlalchemy.engine import URL, make_url

from hub import casekey
from hub.errors import HubError
from kernel.keyfile import KeyFile
from kernel.sqlitecopy import sqlite_copy, sqlite_integrity, sqlite_replace
from protocol.sealed import InvalidKey
from protocol.sealed import public_key as _configured_key

__all__ = ["CHUNK", "MAGIC", "BackupFailed", "HubBackups", "make_backup_key", "public_key"]

log = logging.getLogger(__name__)

MAGIC = b"shegong-backup2\n"
_UNSIGNED = b"shegong-backup1\n"  # sealed, before backups were signed: the same layout without signer or signature
_SIGNED = b"shegong/backup2\n"  # what the signature covers, before the file's digest
_SIGNER, _SIGNATURE = 32, 64
CHUNK = 64 * 1024
_SEALED_KEY = 32 + 48  # a sealed box: ephemeral public key, MAC, then the 32-byte file key
_PREFIX = "hub-"
_SEALED = ".sealed"
_KINDS = (".db", ".dump", f".db{_SEALED}", f".dump{_SEALED}")


class BackupFailed(HubError):
    """A backup or restore failed, or its check did."""


_KEY = KeyFile(
    "backup private key",
    made_by="it is the file `shegong hub keys backup-init --out FILE` wrote, kept offline",
    replacing_would="leave every backup sealed to the old one's public half unreadable",
    error=BackupFailed,
)


def make_backup_key(out: Path) -> str:
    """A new backup key pair: the private half written to ``out`` (which must not exist; 0600), the public
    half (``backup_public_key``) returned."""
    key = PrivateKey.generate()
    _KEY.create(out, bytes(key))
    return casekey.public_text(key)  # the same text as the case key's public half


def public_key(text: str) -> PublicKey:
    """``backup_public_key`` as configured: 32 bytes in URL-safe base64 (read as the case key's is)."""
    try:
        return _configured_key(text, "backup public key")
    except InvalidKey:
        raise ValueError(
            "backup_public_key: 32 bytes of URL-safe base64, as `shegong hub keys backup-init` prints it"
        ) from None


@dataclass(frozen=True, slots=True)
class HubBackups:
    database_url: str
    folder: Path
    keep: int
    public_key: str = ""
    """``backup_public_key``; empty: backups in clear."""
    signer: SigningKey | None = None
    """The hub's backup signing key (:attr:`AuditKey.backup_signing_key`): signs what it seals, and a restore
    takes only a backup it signed. Needed to encrypt or to restore a signed backup."""

    @property
    def _url(self) -> URL:
        return make_url(self.database_url)

    @property
    def is_sqlite(self) -> bool:
        return self._url.get_backend_name() == "sqlite"

    def kept(self) -> list[Path]:
        """The backups kept, oldest first."""
        if not self.folder.exists():
            return []
        return sorted(p for p in self.folder.iterdir() if p.name.startswith(_PREFIX) and p.name.endswith(_KINDS))

    def take(self, now: datetime) -> dict[str, int]:
        """Back the database up, check the copy, encrypt it, keep the newest ``keep``. Returns counts."""
        recipient = public_key(self.public_key) if self.public_key else None
        with self._locked() as folder:
            for left in folder.glob(f"{_PREFIX}*.partial*"):  # what a night or restore cut short left (with
                left.unlink()  # SQLite's -journal or -wal of a copy): in clear, and never rotated
            name = f"{_PREFIX}{now.strftime('%Y%m%dT%H%M%S')}{'.db' if self.is_sqlite else '.dump'}"
            target = folder / (name + (_SEALED if recipient else ""))
            clear, sealed = folder / f"{name}.partial", folder / f"{name}{_SEALED}.partial"
            try:
                os.close(os.open(clear, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                if self.is_sqlite:
                    sqlite_copy(self._sqlite_path(), clear)
                    problem = sqlite_integrity(clear)
                else:
                    self._tool(["pg_dump", "--format=custom", f"--file={clear}", self._libpq()])
                    problem = self._check_dump(clear)
                if problem:
                    raise BackupFailed(f"the night's backup failed its check: {problem}")
                if recipient:
                    if self.signer is None:
                        raise BackupFailed("no backup signing key (the hub's audit key): the backup is not taken")
                    _seal(clear, sealed, recipient, self.signer)
                    sealed.replace(target)
                else:
                    clear.replace(target)
            finally:
                clear.unlink(missing_ok=True)
                sealed.unlink(missing_ok=True)
            removed = 0
            for old in self.kept()[: -self.keep]:
                old.unlink()
                removed += 1
        in_clear = [p.name for p in self.kept() if not p.name.endswith(_SEALED)]
        if not recipient:
            log.warning(
                "the hub's backup %s is NOT encrypted: it holds every resident's name, ID number and case in clear. "
                "Make a key pair with `shegong hub keys backup-init --out FILE` (keep FILE offline) and set "
                "backup_public_key",
                target.name,
            )
        elif in_clear:
            log.warning("backups from before backup_public_key was set are kept in clear: %s", ", ".join(in_clear))
        return {
            "bytes": target.stat().st_size,
            "kept": len(self.kept()),
            "removed": removed,
            "encrypted": int(recipient is not None),
        }

    def restore(self, source: Path, key_file: Path | None = None, unsigned: bool = False) -> None:
        """Write ``source`` over the database (the hub's processes stopped); an encrypted backup is opened
        with the private key in ``key_file``, its signature checked against this hub's, whole first. One
        without a signature (in clear, or sealed before backups were signed) only with ``unsigned``."""
        try:
            with source.open("rb") as f:
                magic = f.read(len(MAGIC))
        except OSError as exc:
            raise BackupFailed(f"cannot read the backup {source}: {exc.strerror}") from None
        if magic != MAGIC and not unsigned:
            made = "is encrypted but was made before" if magic == _UNSIGNED else "is in clear, made without"
            raise BackupFailed(
                f"{source.name} {made} backups were signed: nothing shows this hub made it. Restore it only if "
                "you know where it comes from (--unsigned)"
            )
        if magic not in (MAGIC, _UNSIGNED):
            self._restore_clear(source)
            return
        if key_file is None:
            raise BackupFailed(f"{source.name} is encrypted: give the backup private key file (--key FILE)")
        key = PrivateKey(_KEY.read(key_file))
        signer = None
        if magic == MAGIC:
            if self.signer is None:
                raise BackupFailed(f"{source.name} is signed: its check needs the hub's audit key")
            signer = self.signer.verify_key
        with self._locked() as folder:
            fd, name = tempfile.mkstemp(prefix=f"{_PREFIX}restore-", suffix=".partial", dir=folder)  # 0600
            os.close(fd)
            clear = Path(name)
            try:
                _open(source, clear, key, signer)
                self._restore_clear(clear, source.name)
            finally:
                clear.unlink(missing_ok=True)

    def seal_file(self, clear: Path) -> Path:
        """``clear`` (a 0600 ``<name>.partial``, synced) made ``<name>.sealed`` as a backup is sealed —
        encrypted to ``backup_public_key``, signed — and removed; ``<name>`` in clear when no key is set (with
        the night's warning). Returns the file made. The night's archive of anonymised cases goes so."""
        name = clear.name.removesuffix(".partial")
        if not self.public_key:
            log.warning("the archive %s is NOT encrypted: set backup_public_key (see the backups' warning)", name)
            return clear.replace(clear.with_name(name))
        if self.signer is None:
            raise BackupFailed("no backup signing key (the hub's audit key): the archive is not sealed")
        target, sealing = clear.with_name(name + _SEALED), clear.with_name(f"{name}{_SEALED}.partial")
        sealing.unlink(missing_ok=True)  # a sealing a crash cut short: the clear file is still whole
        try:
            _seal(clear, sealing, public_key(self.public_key), self.signer)
            sealing.replace(target)
        finally:
            sealing.unlink(missing_ok=True)
        clear.unlink()
        return target

    def open_file(self, sealed: Path, key_file: Path, out: Path) -> None:
        """A file :meth:`seal_file` made, decrypted into ``out`` (made 0600; it must not exist), its
        signature checked against this hub's first (:class:`BackupFailed` otherwise, ``out`` removed)."""
        if self.signer is None:
            raise BackupFailed(f"{sealed.name} is signed: its check needs the hub's audit key")
        key = PrivateKey(_KEY.read(key_file))
        os.close(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        try:
            _open(sealed, out, key, self.signer.verify_key)
        except BaseException:
            out.unlink(missing_ok=True)
            raise

    # ------------------------------------------------------------------ helpers
    def _restore_clear(self, path: Path, label: str = "") -> None:
        label = label or path.name
        if self.is_sqlite:
            problem = sqlite_integrity(path)
            if problem:
                raise BackupFailed(f"{label} failed its integrity check: {problem}")
            sqlite_replace(path, self._sqlite_path(), wal=True)
            return
        problem = self._check_dump(path)
        if problem:
            raise BackupFailed(f"{label} cannot be read: {problem}")
        self._tool(
            ["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", "--dbname", self._libpq()]
            + [str(path)]
        )

    @contextmanager
    def _locked(self) -> Iterator[Path]:
        """The backup folder (made 0700), held against another backup or restore: each removes the
        ``.partial`` files the other is writing."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.folder.chmod(0o700)
        fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise BackupFailed(f"another backup or restore is running in {self.folder}") from None
            yield self.folder
        finally:
            os.close(fd)

    def _sqlite_path(self) -> Path:
        database = self._url.database
        if not database or database == ":memory:":
            raise BackupFailed("an in-memory database has nothing to back up")
        return Path(database)

    def _libpq(self) -> str:
        """The URL as libpq takes it: no SQLAlchemy driver name and no password (that goes in PGPASSWORD)."""
        return self._url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)

    def _tool(self, argv: list[str]) -> None:
        env = dict(os.environ)
        if self._url.password:
            env["PGPASSWORD"] = str(self._url.password)
        try:
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=3600, check=False)
        except FileNotFoundError:
            raise BackupFailed(f"{argv[0]} is not installed (Debian: postgresql-client)") from None
        if done.returncode != 0:
            raise BackupFailed(f"{argv[0]} failed: {done.stderr.strip()[:300]}")

    def _check_dump(self, path: Path) -> str:
        try:
            self._tool(["pg_restore", "--list", str(path)])
        except BackupFailed as exc:
            return str(exc)
        return ""


def _seal(clear: Path, out: Path, recipient: PublicKey, signer: SigningKey) -> None:
    """``clear`` encrypted into ``out`` (made 0600), a chunk at a time: a dump of gigabytes never sits in
    memory; signed last."""
    file_key = _keygen()
    state = _State()
    digest = hashlib.sha256()
    with clear.open("rb") as src, os.fdopen(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as dst:

        def write(data: bytes) -> None:
            digest.update(data)
            dst.write(data)

        write(MAGIC + bytes(signer.verify_key) + SealedBox(recipient).encrypt(file_key))
        write(_init_push(state, file_key))
        chunk = src.read(CHUNK)
        while True:
            following = src.read(CHUNK) if len(chunk) == CHUNK else b""
            last = not following
            write(_push(state, chunk, tag=_FINAL if last else _MESSAGE))
            if last:
                break
            chunk = following
        dst.write(signer.sign(_SIGNED + digest.digest()).signature)
        dst.flush()
        os.fsync(dst.fileno())


def _open(sealed: Path, out: Path, key: PrivateKey, signer: VerifyKey | None) -> None:
    """``sealed`` decrypted into ``out``; :class:`BackupFailed` unless every chunk is whole and authentic,
    the last one, tagged final, is followed by ``signer``'s signature of all before it (None: a backup from
    before they were signed, which ends with that chunk), and nothing after."""
    state = _State()
    digest = hashlib.sha256()
    with sealed.open("rb") as src, out.open("wb") as dst:
        left = os.fstat(src.fileno()).st_size - (_SIGNATURE if signer is not None else 0)

        def read(n: int) -> bytes:
            nonlocal left
            data = src.read(max(0, min(n, left)))
            left -= len(data)
            digest.update(data)
            return data

        read(len(MAGIC))
        if signer is not None and read(_SIGNER) != bytes(signer):
            raise BackupFailed(
                f"{sealed.name} is signed by another key than this hub's: made by another hub, or not by a hub"
            )
        try:
            file_key = SealedBox(key).decrypt(read(_SEALED_KEY))
        except (CryptoError, ValueError):
            raise BackupFailed(f"{sealed.name} cannot be opened with this key (another pair's, or damaged)") from None
        try:
            _init_pull(state, read(_HEADERBYTES), file_key)
            while True:
                block = read(CHUNK + _ABYTES)
                if not block:
                    raise BackupFailed(f"{sealed.name} is cut short: its last part is missing")
                chunk, tag = _pull(state, block)
                dst.write(chunk)
                if tag == _FINAL:
                    break
        except (CryptoError, ValueError):
            raise BackupFailed(f"{sealed.name} is damaged or cut short: it fails its authentication") from None
        if left:
            raise BackupFailed(f"{sealed.name} has bytes after its last part: damaged")
        if signer is not None:
            try:
                signer.verify(_SIGNED + digest.digest(), src.read(_SIGNATURE))
            except (BadSignatureError, ValueError):
                raise BackupFailed(f"{sealed.name} is damaged: its signature does not hold") from None
