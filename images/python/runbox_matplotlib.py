"""runbox's matplotlib backend (MPLBACKEND=module://runbox_matplotlib): Agg, plus a show() that keeps the figures.

Under plain Agg, plt.show() does nothing and the chart is lost, yet models and people write it out of habit.
Here it saves every open figure as /workspace/output/figure-<n>.png (the first free n), where runbox returns
it as an artifact, then closes them, as closing the windows of an interactive backend would.
"""
import os

from matplotlib._pylab_helpers import Gcf
from matplotlib.backend_bases import FigureManagerBase, _Backend
from matplotlib.backends.backend_agg import FigureCanvasAgg

OUTPUT = "/workspace/output"


def _free_path(start):
    n = start
    while os.path.lexists(os.path.join(OUTPUT, "figure-%d.png" % n)):
        n += 1
    return n, os.path.join(OUTPUT, "figure-%d.png" % n)


@_Backend.export
class _BackendRunbox(_Backend):
    FigureCanvas = FigureCanvasAgg
    FigureManager = FigureManagerBase

    @classmethod
    def show(cls, *args, **kwargs):
        managers = Gcf.get_all_fig_managers()
        if not managers:
            return
        os.makedirs(OUTPUT, exist_ok=True)
        n = 1
        for manager in managers:
            n, path = _free_path(n)
            manager.canvas.figure.savefig(path)
        Gcf.destroy_all()
