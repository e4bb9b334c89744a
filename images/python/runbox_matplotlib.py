"""runbox's matplotlib backend (MPLBACKEND=module://runbox_matplotlib): Agg, plus a show() that keeps the figures.

Under plain Agg, plt.show() does nothing and the chart is lost, yet models and people write it out of habit.
Here it saves every open figure not already saved as /workspace/output/figure-<n>.png (the first free n),
where runbox returns it as an artifact, then closes them all, as closing an interactive window would. A figure
the program saved itself (plt.savefig("output/chart.png"); plt.show()) is not saved twice. A figure that
cannot be drawn is reported on stderr and skipped: show() never fails a program that plain Agg let finish.
"""
import functools
import os
import sys

from matplotlib._pylab_helpers import Gcf
from matplotlib.backend_bases import FigureManagerBase, _Backend
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

OUTPUT = "/workspace/output"

_savefig = Figure.savefig


@functools.wraps(_savefig)
def _savefig_and_remember(self, *args, **kwargs):
    result = _savefig(self, *args, **kwargs)
    self._runbox_saved = True
    return result


Figure.savefig = _savefig_and_remember


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
        unsaved = [m for m in Gcf.get_all_fig_managers() if not getattr(m.canvas.figure, "_runbox_saved", False)]
        n = 1
        for manager in unsaved:
            try:
                os.makedirs(OUTPUT, exist_ok=True)
                n, path = _free_path(n)
                _savefig(manager.canvas.figure, path)
            except Exception as err:  # the program's figure, the program's problem: say so, do not fail it
                print("runbox: plt.show() could not save figure %s: %s" % (manager.num, err), file=sys.stderr)
        Gcf.destroy_all()
