"""Reading order of the example gallery (``within_subsection_order`` in conf.py).

From fitting continuous data, to spikes and inputs, to analysing and selecting models; examples not
listed come after, by file name.
"""

import os

ORDER = [
    "plot_continuous.py",
    "plot_spikes.py",
    "plot_nwb_spikes.py",
    "plot_inputs.py",
    "plot_fixed_points.py",
    "plot_grid_search.py",
    "plot_linear_baseline.py",
    "plot_lorenz.py",
]


class GalleryOrder:
    """Sort key: position in ``ORDER``, then file name."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __repr__(self):
        return "<GalleryOrder>"

    def __call__(self, filename):
        name = os.path.basename(str(filename))
        return (ORDER.index(name), "") if name in ORDER else (len(ORDER), name)
