"""Small inline SVG charts for the report page: no JavaScript, readable without colour (numbers are
printed beside every bar), sized for a 1280-pixel page."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from hub.text import text

__all__ = ["LEVEL_COLOURS", "LEVEL_NAMES", "bars", "satisfaction"]

LEVEL_NAMES = {level: text("rating_level", str(level)) for level in (5, 4, 3, 2, 1)}
LEVEL_COLOURS = {5: "#1b7a3d", 4: "#5aa469", 3: "#b8b8b8", 2: "#e08a3c", 1: "#c0392b"}
_ROW = 22
_LABEL_W = 170
_BAR_W = 420
_FONT = 'font-family="sans-serif" font-size="13"'


def _frame(height: int, title: str, body: list[str], width: int = _LABEL_W + _BAR_W + 90) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" class="chart" '
        f'viewBox="0 0 {width} {height}" aria-label="{escape(title)}"><title>{escape(title)}</title>'
        + "".join(body)
        + "</svg>"
    )


def bars(
    rows: Sequence[tuple[str, float | None]],
    title: str,
    fmt: str = "{:.0f}",
    scale_max: float | None = None,
    target: float | None = None,
    colour: str = "#2c6fbb",
) -> str:
    """Horizontal bars, one per ``(label, value)``; ``None`` shows as 无数据. ``target`` draws a line."""
    values = [v for _, v in rows if v is not None]
    top = scale_max or max(values, default=0.0) or 1.0
    body = [f'<text x="0" y="15" {_FONT} font-weight="bold">{escape(title)}</text>']
    for i, (label, value) in enumerate(rows):
        y = 26 + i * _ROW
        body.append(f'<text x="{_LABEL_W - 6}" y="{y + 14}" {_FONT} text-anchor="end">{escape(label)}</text>')
        if value is None:
            body.append(f'<text x="{_LABEL_W + 4}" y="{y + 14}" {_FONT} fill="#666">{text("chart", "no_data")}</text>')
            continue
        w = max(1.0, _BAR_W * min(value, top) / top)
        body.append(f'<rect x="{_LABEL_W}" y="{y + 3}" width="{w:.1f}" height="{_ROW - 6}" fill="{colour}"/>')
        body.append(f'<text x="{_LABEL_W + w + 4:.1f}" y="{y + 14}" {_FONT}>{escape(fmt.format(value))}</text>')
    height = 30 + len(rows) * _ROW
    if target is not None:
        x = _LABEL_W + _BAR_W * min(target, top) / top
        body.append(
            f'<line x1="{x:.1f}" y1="22" x2="{x:.1f}" y2="{height - 4}" stroke="#c0392b" stroke-dasharray="4 3"/>'
        )
    return _frame(height, title, body)


def satisfaction(rows: Sequence[tuple[str, Mapping[int, int]]], title: str) -> str:
    """One 100 % bar per row split into the five levels, with the count of bad ratings at its end."""
    body = [f'<text x="0" y="15" {_FONT} font-weight="bold">{escape(title)}</text>']
    for i, (label, counts) in enumerate(rows):
        y = 26 + i * _ROW
        total = sum(counts.values())
        body.append(f'<text x="{_LABEL_W - 6}" y="{y + 14}" {_FONT} text-anchor="end">{escape(label)}</text>')
        if not total:
            body.append(
                f'<text x="{_LABEL_W + 4}" y="{y + 14}" {_FONT} fill="#666">{text("chart", "no_ratings")}</text>'
            )
            continue
        x = float(_LABEL_W)
        for level in (5, 4, 3, 2, 1):
            n = counts.get(level, 0)
            if not n:
                continue
            w = _BAR_W * n / total
            name = LEVEL_NAMES[level]
            body.append(
                f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{_ROW - 6}" fill="{LEVEL_COLOURS[level]}">'
                f"<title>{name} {n}</title></rect>"
            )
            x += w
        bad = counts.get(1, 0) + counts.get(2, 0)
        bad_label = text("chart", "bad", bad=bad, total=total)
        body.append(f'<text x="{_LABEL_W + _BAR_W + 4}" y="{y + 14}" {_FONT}>{bad_label}</text>')
    legend_y = 30 + len(rows) * _ROW
    x = _LABEL_W
    for level in (5, 4, 3, 2, 1):
        body.append(f'<rect x="{x}" y="{legend_y}" width="12" height="12" fill="{LEVEL_COLOURS[level]}"/>')
        body.append(f'<text x="{x + 16}" y="{legend_y + 11}" {_FONT}>{LEVEL_NAMES[level]}</text>')
        x += 92
    return _frame(legend_y + 20, title, body, width=_LABEL_W + _BAR_W + 110)
