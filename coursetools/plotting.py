"""Plotting helpers shared by the chapters: heatmaps, light-weight animations, timing
plots, plain tables.

Every function draws on an ``Axes`` (or a ``Figure``) that the caller creates, so a
chapter keeps control of its layout; nothing here calls ``plt.show()``.  Animations are
returned as HTML (``FuncAnimation.to_jshtml``) so that they play in the static book,
without a running kernel.
"""

from __future__ import annotations

import math
import re
from typing import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import HTML
from matplotlib.animation import FuncAnimation

__all__ = [
    "heatmap",
    "animation_html",
    "plot_timings",
    "loglog_slope",
    "format_table",
]


def _to_numpy(matrix) -> np.ndarray:
    """A 2-D NumPy array from a tensor (any device, with or without grad) or
    an array-like."""
    if hasattr(matrix, "detach"):
        matrix = matrix.detach().to("cpu").double().numpy()
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2:
        raise ValueError(f"heatmap expects a 2-D matrix, got shape {matrix.shape}")
    return matrix


def heatmap(
    ax,
    matrix,
    xlabels: Sequence[str] | None = None,
    ylabels: Sequence[str] | None = None,
    title: str | None = None,
    *,
    xlabel: str | None = "key",
    ylabel: str | None = "query",
    cmap: str = "viridis",
    vmin: float | None = 0.0,
    vmax: float | None = None,
    annotate: bool = False,
    fmt: str = "{:.2f}",
    colorbar: bool = True,
    masked=None,
    fontsize: float = 7,
):
    """Draw ``matrix`` (rows = queries, columns = keys by default) as a
    heatmap on ``ax``.

    Args:
        ax: the matplotlib ``Axes`` to draw on. matrix: a 2-D tensor or array, e.g.
        attention weights of shape (L_q, L_k). xlabels, ylabels: tick labels for
        columns and rows (e.g. tokens); ``None`` shows indices. title: the axes title.
        xlabel, ylabel: axis labels ("key" and "query" by default). cmap, vmin, vmax:
        colour map and range (``vmin=0`` suits attention weights). annotate: write
        each value in its cell (good for matrices up to about 12 x 12). fmt: format of
        the annotations. fontsize: size of the annotations in points (larger for a few
        big cells, so the
            numbers stay legible when the figure is shrunk to the page's width).
        colorbar: add a colour bar next to the axes. masked: optional boolean matrix of
        the same shape; ``True`` cells are hatched and drawn
            grey (e.g. positions a mask forbids), so "weight 0 because
            masked" is visible.

    Returns:
        The ``AxesImage``, so an animation can update it with ``image.set_data(...)``.
    """
    values = _to_numpy(matrix)
    image = ax.imshow(
        values, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest"
    )
    rows, cols = values.shape
    if masked is not None:
        hidden = _to_numpy(masked).astype(bool)
        overlay = np.ma.masked_where(~hidden, np.ones_like(values))
        ax.imshow(
            overlay,
            cmap="Greys",
            vmin=0,
            vmax=3,
            aspect="auto",
            interpolation="nearest",
        )
        for r, c in zip(*np.nonzero(hidden)):
            ax.add_patch(
                plt.Rectangle(
                    (c - 0.5, r - 0.5),
                    1,
                    1,
                    fill=False,
                    hatch="///",
                    edgecolor="0.55",
                    linewidth=0,
                )
            )
    ax.set_xticks(range(cols))
    ax.set_yticks(range(rows))
    if xlabels is not None:
        ax.set_xticklabels(
            list(xlabels),
            rotation=45 if max(map(len, map(str, xlabels))) > 2 else 0,
            ha="right" if max(map(len, map(str, xlabels))) > 2 else "center",
        )
    if ylabels is not None:
        ax.set_yticklabels(list(ylabels))
    if rows > 16:
        ax.set_yticks(range(0, rows, max(1, rows // 8)))
    if cols > 16:
        ax.set_xticks(range(0, cols, max(1, cols // 8)))
    if annotate:
        threshold = (
            np.nanmax(values) + (np.nanmin(values) if vmin is None else vmin)
        ) / 2
        for r in range(rows):
            for c in range(cols):
                if masked is not None and hidden[r, c]:
                    continue
                ax.text(
                    c,
                    r,
                    fmt.format(values[r, c]),
                    ha="center",
                    va="center",
                    fontsize=fontsize,
                    color="black" if values[r, c] > threshold else "white",
                )
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return image


def glue(name: str, value, display: bool = False) -> None:
    """Hand ``value``, computed in a chapter's cell, to the chapter's prose, which
    shows it with ``{glue:text}`name` `` (myst-nb's glue). Where myst-nb is not
    installed (Colab, a plain Jupyter) the chapter still runs: the value is only
    printed, if ``display``."""
    try:
        from myst_nb import glue as myst_nb_glue
    except ImportError:
        if display:
            print(f"{name}: {value}")
        return
    myst_nb_glue(name, value, display=display)


def animation_html(
    fig,
    update: Callable[[int], object],
    frames: int | Sequence,
    interval_ms: int = 200,
    *,
    close: bool = True,
) -> HTML:
    """Render ``FuncAnimation(fig, update, frames)`` as a self-contained
    JavaScript player.

    The frames are rendered now (in the kernel) and embedded as images, so the player
    works in the static HTML book.  Keep animations small (about 20 frames, a small
    figure, ``dpi`` near 80: ``plt.subplots(..., dpi=80)``) so the page stays light. The
    figure is closed (``close=True``) so that Jupyter does not also display its last
    frame as a static image.
    """
    anim = FuncAnimation(fig, update, frames=frames, interval=interval_ms, blit=False)
    html = anim.to_jshtml(default_mode="loop")
    # matplotlib links Font Awesome 4 from a CDN for the button icons; the book serves
    # its own icons.
    html = re.sub(
        r'<link rel="stylesheet"\s+href="https://[^"]*font-awesome[^"]*">', "", html
    )
    if close:
        plt.close(fig)
    return HTML(html)


def loglog_slope(
    xs: Sequence[float], ys: Sequence[float], last: int | None = None
) -> float:
    """Least-squares slope of log(y) against log(x): the exponent ``p`` in ``y ~ x**p``.

    ``last`` fits only the last points (large sizes, where fixed overheads no
    longer dominate).
    """
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if last is not None:
        xs, ys = xs[-last:], ys[-last:]
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def plot_timings(
    ax,
    sizes: Sequence[float],
    series: Mapping[str, Sequence[float]],
    *,
    reference_slopes: Sequence[int] = (2,),
    xlabel: str = "sequence length n",
    ylabel: str = "time (s)",
    title: str | None = None,
    fit_last: int | None = 3,
):
    """Log-log plot of measurements (time, memory, ...) against a size, with
    ``n**p`` guide lines.

    Args:
        ax: the ``Axes`` to draw on. sizes: the x values (e.g. sequence lengths).
        series: ``{label: values}``; each is drawn with markers, its fitted
        log-log slope (over the
            ``fit_last`` largest sizes) added to the label.
        reference_slopes: exponents ``p`` of dashed grey guide lines ``c *
        n**p``; each is fitted
            (over the ``fit_last`` largest sizes) to the series whose slope is closest
            to ``p`` and drawn a factor 2 below it.
    """
    sizes = np.asarray(sizes, dtype=float)
    fitted = {}
    for label, values in series.items():
        values = np.asarray(values, dtype=float)
        slope = loglog_slope(sizes, values, last=fit_last)
        fitted[label] = (slope, values)
        ax.loglog(sizes, values, "o-", label=f"{label} (slope {slope:.2f})")
    for p in reference_slopes:
        # draw each guide c * n**p through the series whose slope is closest to p (least
        # squares in log space)
        _, values = min(fitted.values(), key=lambda sv: abs(sv[0] - p))
        tail = slice(-fit_last, None) if fit_last else slice(None)
        c = np.exp(np.mean(np.log(values[tail]) - p * np.log(sizes[tail])))
        guide = (
            0.5 * c * sizes**p
        )  # a factor 2 below the series it follows, so both stay visible
        ax.loglog(sizes, guide, "--", color="0.6", linewidth=1, zorder=1)
        ax.annotate(
            f"$\\propto n^{{{p}}}$" if p != 1 else "$\\propto n$",
            (sizes[0], guide[0]),
            textcoords="offset points",
            xytext=(2, 6),
            color="0.4",
            fontsize=9,
        )
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes)
    ax.set_xticklabels(
        [f"{int(s)}" if float(s).is_integer() else f"{s:g}" for s in sizes]
    )
    ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)


def format_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], floatfmt: str = "{:.3g}"
) -> str:
    """A plain-text table (right-aligned columns) for ``print``; floats use
    ``floatfmt``."""

    def cell(value):
        if isinstance(value, float):
            return "nan" if math.isnan(value) else floatfmt.format(value)
        return str(value)

    text = [[str(h) for h in headers]] + [[cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in text) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in text]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
