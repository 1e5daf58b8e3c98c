"""The processes a benchmark charges to the hub: each hub process and the processes it started (its
opening processes, ``hub.settings.HubSettings.open_processes``), so that moving work into a child does
not make it disappear from the figures."""

from __future__ import annotations

import psutil

__all__ = ["cpu_s", "family"]


def family(processes: list[psutil.Process]) -> list[psutil.Process]:
    """``processes`` and their living descendants."""
    out = list(processes)
    for p in processes:
        try:
            out += p.children(recursive=True)
        except psutil.Error:  # ended meanwhile
            continue
    return out


def cpu_s(processes: list[psutil.Process]) -> float:
    """Seconds of CPU (user and system) used so far by ``processes`` and their living descendants."""
    total = 0.0
    for p in family(processes):
        try:
            total += sum(p.cpu_times()[:2])
        except psutil.Error:
            continue
    return total
