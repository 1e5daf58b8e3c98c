"""``shegong protocol schema``: write the JSON Schema of every message, for other implementations."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from protocol.codec import json_schemas

__all__ = ["main"]


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="shegong protocol", description="The wire protocol.")
    sub = p.add_subparsers(dest="cmd", required=True)
    schema = sub.add_parser("schema", help="write docs/schema/<type>.schema.json for every message type")
    schema.add_argument("--out", type=Path, default=Path("docs/schema"), help="folder to write into")
    ns = p.parse_args(list(argv))
    ns.out.mkdir(parents=True, exist_ok=True)
    for name, body in json_schemas().items():
        (ns.out / f"{name}.schema.json").write_text(
            json.dumps(body, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        )
        print(ns.out / f"{name}.schema.json")
    return 0
