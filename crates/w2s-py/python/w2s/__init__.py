"""w2s: weak-to-strong generalization experiments (Burns et al., 2023), from Python.

    import w2s
    r = w2s.run(model="bow", dataset="demo", n_docs=600, n_test_docs=300)
    print(r.test_accuracy)

Keyword arguments are the TOML keys of a run file; `[train]`'s keys may be given at the top
level (`lr=1e-3`), `[weak]`'s as `weak_lr=...`, as the command line's flags. `train=` and
`test=` take a pandas DataFrame or a list of dicts as the task's data; `loss=` takes a Python
function `(logits, labels, step_frac) -> scalar tensor`. docs/PYTHON.md has the whole API.
"""

# The native module runs on the libtorch of this very torch (one libtorch, one autograd
# graph for a Python loss): it must be loaded first.
import torch  # noqa: F401

from . import _native
from . import datasets
from ._api import Report, RunResult, configure, demo, keys, report, run, runs, sweep

__version__ = _native.__version__
__all__ = [
    "run",
    "demo",
    "sweep",
    "report",
    "runs",
    "datasets",
    "keys",
    "configure",
    "RunResult",
    "Report",
]
