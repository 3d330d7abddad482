"""What a notebook shows of a model and a fit (`_repr_html_`): plain HTML with inline styles, the
same numbers and words the command line prints, and everything from the user's files escaped.

>>> print(table(["name", "mean", "kind"], [["mu", "1.5", "latent"], ["... 3 more"]]))
<table class="ppl-summary"><thead><tr><th style="text-align:left">name</th><th>mean</th><th style="text-align:left">kind</th></tr></thead><tbody><tr><td style="text-align:left">mu</td><td>1.5</td><td style="text-align:left">latent</td></tr><tr><td colspan="3" style="text-align:left">... 3 more</td></tr></tbody></table>
"""
from __future__ import annotations

from html import escape

WARNING = "color:#8a4b00;background:#fff4e0;padding:2px 6px;margin:2px 0"


def table(head: list[str], rows: list[list[str]]) -> str:
    """An HTML table: the first column left-aligned, a one-cell row spanning the table."""
    def cells(row, tag):
        return "".join(f'<{tag} style="text-align:left">{escape(c)}</{tag}>' if i == 0 or i == len(head) - 1
                       and not _numeric(c) else f"<{tag}>{escape(c)}</{tag}>" for i, c in enumerate(row))
    body = "".join(f'<tr><td colspan="{len(head)}" style="text-align:left">{escape(r[0])}</td></tr>' if len(r) == 1
                   else f"<tr>{cells(r, 'td')}</tr>" for r in rows)
    return f'<table class="ppl-summary"><thead><tr>{cells(head, "th")}</tr></thead><tbody>{body}</tbody></table>'


def _numeric(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def code(text: str) -> str:
    """Source text as an escaped <pre> block (when it cannot be highlighted)."""
    return f'<pre style="margin:4px 0">{escape(text)}</pre>'


def block(title: str, lines: list[str], parts: list[str] = (), warnings: list[str] = ()) -> str:
    """A titled block: `lines` of text, then HTML `parts` (already built), then warnings."""
    shown = "".join(f'<div style="font-family:monospace">{escape(line)}</div>' for line in lines)
    warned = "".join(f'<div style="{WARNING}">{escape(w)}</div>' for w in warnings)
    return f'<div class="ppl"><div><b>{escape(title)}</b></div>{shown}{"".join(parts)}{warned}</div>'


def details(summary: str, text: str) -> str:
    """A folded block of preformatted text."""
    return f"<details><summary>{escape(summary)}</summary>{code(text)}</details>"
