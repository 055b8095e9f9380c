"""A report as a bar chart in SVG, drawn on the server: no script, no style attribute.

One horizontal bar per row of the report, its length the row's events, the blocked ones drawn
in their own colour at its end; the chart has a title and a description for screen readers,
and each bar a ``<title>`` with its numbers. Every text is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from markupsafe import Markup, escape

from ...events.reports import ReportRow

__all__ = ["bar_chart"]

_BAR: Final = 22  # height of a row, in pixels
_LABEL: Final = 150  # width of the keys' column
_PLOT: Final = 420  # width of the longest bar
_MAX_ROWS: Final = 200  # a longer report is drawn in its first rows (the table has them all)


def bar_chart(rows: Sequence[ReportRow], by: str) -> Markup:
    """The report's *rows* (per ``by``: code, user or day) as an SVG bar chart."""
    drawn = list(rows[:_MAX_ROWS])
    most = max((row.events for row in drawn), default=0) or 1
    height = _BAR * len(drawn) + 30
    width = _LABEL + _PLOT + 70
    title = f"Events per {by}"
    parts = [
        f'<svg class="chart" role="img" aria-labelledby="chart-title chart-desc" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{len(drawn)} bar(s); each bar is a {escape(by)}\'s events, '
        "the blocked ones at its end. The table below has the same numbers.</desc>",
        f'<line class="axis" x1="{_LABEL}" y1="0" x2="{_LABEL}" y2="{height - 25}"/>',
    ]
    for i, row in enumerate(drawn):
        y = i * _BAR + 4
        key = "(no code)" if row.key is None else row.key
        whole = round(_PLOT * row.events / most)
        blocked = round(_PLOT * row.block / most)
        parts += [
            f"<g><title>{escape(key)}: {row.events} event(s), {row.allow} allowed, "
            f"{row.block} blocked, {row.log_only} logged</title>",
            f'<text x="{_LABEL - 6}" y="{y + 14}" text-anchor="end">{escape(key[:24])}</text>',
            f'<rect class="bar" x="{_LABEL}" y="{y}" width="{whole - blocked}" '
            f'height="{_BAR - 6}"/>',
            f'<rect class="block" x="{_LABEL + whole - blocked}" y="{y}" width="{blocked}" '
            f'height="{_BAR - 6}"/>',
            f'<text x="{_LABEL + whole + 6}" y="{y + 14}">{row.events}</text></g>',
        ]
    parts += [
        f'<text x="{_LABEL}" y="{height - 8}">0</text>',
        f'<text x="{_LABEL + _PLOT}" y="{height - 8}" text-anchor="end">{most} events</text>',
        "</svg>",
    ]
    return Markup("".join(parts))  # noqa: S704 - every text in it is escaped above
