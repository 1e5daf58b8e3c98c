"""``shegong hub catalogue list|export|import|publish|discard``: the catalogue from the command line.

A thin layer over :class:`hub.catalogue.store.CatalogueStore`; its errors (``CatalogueError``) become a
message on stderr and exit code 2 in ``shegong``'s root. ``publish`` does not connect to the broker: the
running hub's leader announces the new version at its next periodic check (``[fleet] evaluate_every_s``).
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from pathlib import Path

import click

from hub import settings as hub_settings
from hub.audit.chain import bind_key_file
from hub.audit.keyed import key_path
from hub.catalogue.store import REPLACE_ANY, CatalogueError, CatalogueStore, DraftChanged
from hub.db.engine import open_engine
from hub.text import text

__all__ = ["catalogue"]


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@click.group()
def catalogue() -> None:
    """The service catalogue terminals run."""


def _with_store(handler: Callable[[hub_settings.HubSettings, CatalogueStore], None]) -> int:
    """Run ``handler`` on the catalogue store of the hub's database."""
    settings = hub_settings.load()
    engine = open_engine(settings.database_url)
    bind_key_file(engine, key_path(settings))  # its audit entries sealed as they are appended
    try:
        store = CatalogueStore(engine)
        store.bootstrap()
        handler(settings, store)
    finally:
        engine.dispose()
    return 0


@catalogue.command("list")
def list_versions() -> int:
    """Versions, newest first, and the draft if there is one."""

    def show(_settings: hub_settings.HubSettings, store: CatalogueStore) -> None:
        for v in store.versions():
            when = v.published_at.isoformat(timespec="seconds") if v.published_at else "draft"
            print(f"v{v.version}\t{when}\t{v.items} items\t{v.published_by or v.created_by}\t{v.note}")

    return _with_store(show)


@catalogue.command("export")
@click.option("--version", type=int, help="which published version")
@click.option("--draft", is_flag=True, help="the draft instead")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="file to write (default: stdout)")
def export(version: int | None, draft: bool, output: Path | None) -> int:
    """Write a version (default: the newest published) as JSON."""

    def write(_settings: hub_settings.HubSettings, store: CatalogueStore) -> None:
        text = store.export(version, draft=draft)
        if output:
            output.write_text(text, encoding="utf-8")
            print(f"wrote {output}", file=sys.stderr)
        else:
            sys.stdout.write(text)

    return _with_store(write)


@catalogue.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--note", default="", help="what changed, for the version list")
@click.option("--replace-draft", is_flag=True, help="replace a draft that holds unpublished changes")
def import_(file: Path, note: str, replace_draft: bool) -> int:
    """Make a JSON catalogue file (as `export` writes it) the draft. A draft with unpublished changes (a
    colleague's, perhaps) is replaced only with --replace-draft: export it first to keep them."""

    def load(_settings: hub_settings.HubSettings, store: CatalogueStore) -> None:
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CatalogueError(f"cannot read {file}: {exc.strerror}") from None
        note_ = note or text("catalogue_note", "imported_file", file=file.name)
        try:
            version = store.import_catalogue(data, _actor(), note_, replaces=REPLACE_ANY if replace_draft else None)
        except DraftChanged:
            raise CatalogueError(
                "the draft holds changes not yet published: keep them with `shegong hub catalogue export --draft "
                "-o FILE`, then import again with --replace-draft"
            ) from None
        print(f"draft v{version} imported from {file}; `shegong hub catalogue publish` to publish it")

    return _with_store(load)


@catalogue.command()
@click.option("--note", default="", help="what changed, for the version list")
def publish(note: str) -> int:
    """Publish the draft as the next version; the running hub announces it to terminals within seconds."""

    def publish_draft(settings: hub_settings.HubSettings, store: CatalogueStore) -> None:
        info = store.publish(_actor(), note)
        print(f"published v{info.version} ({info.items} items, {info.content_hash})")
        print(f"the running hub announces it to terminals within {settings.fleet.evaluate_every_s:g} s")

    return _with_store(publish_draft)


@catalogue.command()
def discard() -> int:
    """Throw the draft away."""

    def throw_away(_settings: hub_settings.HubSettings, store: CatalogueStore) -> None:
        store.discard_draft(_actor())
        print("draft discarded")

    return _with_store(throw_away)
