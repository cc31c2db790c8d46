"""The package's HTML templates (``psa_geo/templates``), rendered with every value escaped, and
charts inlined in pages."""

from __future__ import annotations

import functools
import html
import io
from importlib import resources

import jinja2
import pandas as pd


def _missing(value) -> bool:
    return value is None or (pd.api.types.is_scalar(value) and pd.isna(value))


@functools.cache
def template(name: str, *, missing: str = "–") -> jinja2.Template:
    """The template ``name`` with autoescape, strict undefined names and number filters:
    ``num`` (whole, with thousands commas), ``one`` and ``two`` (decimals), ``pct`` (signed
    per cent), ``share`` (per cent, one decimal); a missing value (None or NaN) shows as
    ``missing``. Compiled once per process (a page per town would otherwise compile it per
    town); rendering does not change it."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    formats = {"num": "{:,.0f}", "one": "{:,.1f}", "two": "{:,.2f}", "pct": "{:+.1f}%",
               "share": "{:.1f}%"}  # fmt: skip
    for filter_name, fmt in formats.items():
        env.filters[filter_name] = lambda x, fmt=fmt: missing if _missing(x) else fmt.format(x)
    source = resources.files("psa_geo.templates").joinpath(name)
    return env.from_string(source.read_text(encoding="utf-8"))


def inline_svg(fig, title: str, desc: str | None = None) -> str:
    """A matplotlib figure as SVG to inline in a page: text kept as text, no XML prolog, and a
    title (and description) for screen readers, escaped."""
    from matplotlib import rc_context

    buffer = io.StringIO()
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "psa_geo"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    title = html.escape(title)
    about = f"<title>{title}</title>" + (f"<desc>{html.escape(desc)}</desc>" if desc else "")
    return svg.replace(">", f' role="img" aria-label="{title}">{about}', 1)
