"""SVG snapshots of the console's main screens at 80×24, Chinese and English: a terminal with three cases
queued at a fixed time and no terminal service running, the host's disk and memory fixed. A change to what
a technician sees shows as a failing snapshot (``pytest --snapshot-update`` accepts it after review)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.console.conftest import console_app


async def _settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def _on(*keys: str):
    async def run_before(pilot) -> None:
        await _settle(pilot)
        for key in keys:
            await pilot.press(key)
            await _settle(pilot)

    return run_before


@pytest.mark.parametrize(
    "keys",
    [(), ("l",), ("2",), ("4",), ("3",)],
    ids=["overview-zh", "overview-en", "sync-zh", "audit-zh", "catalogue-zh"],
)
def test_main_screens_at_80x24(snap_compare, settings, store, keys):
    assert snap_compare(console_app(settings, store), terminal_size=(80, 24), run_before=_on(*keys))


@pytest.mark.parametrize("name", ["overview-zh", "overview-en", "sync-zh", "audit-zh", "catalogue-zh"])
def test_the_screens_in_the_docs_are_the_snapshots(name):
    root = Path(__file__).resolve().parents[3]
    snapshot = (
        Path(__file__).parent / "__snapshots__" / "test_console_snapshots" / f"test_main_screens_at_80x24[{name}].svg"
    )
    assert (root / "docs" / "screenshots" / f"console-{name}.svg").read_bytes() == snapshot.read_bytes()
