"""Shared helpers for the course *Transformers, from attention to Swin*.

Chapters and exercise notebooks import from here (like D2L's ``d2l`` package) so
that device choice, seeding, plotting and timing are written once.  Graded
reference solutions are deliberately *not* in this package: they live only in
``solutions/`` and are loaded by the autograder.
"""

from coursetools.device import describe_device, get_device
from coursetools.seed import seed_everything
from coursetools.timing import peak_memory_bytes, time_call

__all__ = [
    "get_device",
    "describe_device",
    "seed_everything",
    "time_call",
    "peak_memory_bytes",
]

# Plotting helpers live in coursetools.plotting (matplotlib, IPython). They are imported
# lazily, on first use
# (``from coursetools import heatmap``), so that ``import coursetools`` stays light for
# the autograder.
_PLOTTING = (
    "heatmap",
    "animation_html",
    "plot_timings",
    "loglog_slope",
    "format_table",
    "glue",
)
__all__ += list(_PLOTTING)


def __getattr__(name):
    if name in _PLOTTING:
        from coursetools import plotting

        return getattr(plotting, name)
    raise AttributeError(f"module 'coursetools' has no attribute {name!r}")
