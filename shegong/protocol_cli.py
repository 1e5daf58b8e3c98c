"""``shegong protocol schema``: write the JSON Schema of every message, for other implementations."""

from __future__ import annotations

import json
from pathlib import Path

import click

from protocol.codec import json_schemas

__all__ = ["protocol"]


@click.group()
def protocol() -> None:
    """The wire protocol."""


@protocol.command()
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=Path("docs/schema"), help="folder to write into"
)
def schema(out: Path) -> int:
    """Write docs/schema/<type>.schema.json for every message type."""
    out.mkdir(parents=True, exist_ok=True)
    for name, body in json_schemas().items():
        (out / f"{name}.schema.json").write_text(json.dumps(body, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
        print(out / f"{name}.schema.json")
    return 0
