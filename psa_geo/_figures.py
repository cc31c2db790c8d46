"""Matplotlib figures with fixed margins, for charts whose text is known in advance.

Constrained layout measures every text of a figure before each draw, which costs most of the
time of a chart; a fixed margin (in points, so it does not scale with the figure) is measured
once, here, against the longest labels the chart can have.
"""

from __future__ import annotations


def figure_with_margins(
    size: tuple[float, float], *, left: float, right: float, top: float, bottom: float
):
    """A matplotlib ``Figure`` of ``size`` inches and its one ``Axes``, placed with margins of
    ``left``, ``right``, ``top`` and ``bottom`` points: ``(fig, ax)``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    width, height = size[0] * 72, size[1] * 72
    fig.subplots_adjust(
        left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height
    )
    return fig, fig.add_subplot()
