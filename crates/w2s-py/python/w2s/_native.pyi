"""Type stubs of `w2s._native`, the Rust side of the package (crates/w2s-py/src/lib.rs).

Options cross as JSON text in the keys of a run or sweep file (read strictly, as a file is);
results come back as Python objects: the classes below, and stored records as dicts.
`w2s/_api.py` is the documented surface users call.
"""

import os
from typing import Any, Callable, Optional, Union

_Path = Union[str, "os.PathLike[str]"]

__version__: str

class Gap:
    """Ceiling minus weak accuracy with its 95% interval over the test examples."""

    @property
    def value(self) -> float: ...
    @property
    def lo(self) -> float: ...
    @property
    def hi(self) -> float: ...

class Student:
    """One student: its method's name, test accuracy, PGR (None: no measurable gap) and
    agreement with its supervision."""

    @property
    def loss(self) -> str: ...
    @property
    def accuracy(self) -> float: ...
    @property
    def pgr(self) -> Optional[float]: ...
    @property
    def agreement(self) -> Optional[float]: ...

class Outcome:
    """One weak-to-strong experiment: the supervision's and the ceiling's test accuracy,
    the students, the gap."""

    @property
    def seed(self) -> int: ...
    @property
    def weak(self) -> float: ...
    @property
    def ceiling(self) -> float: ...
    @property
    def students(self) -> list[Student]: ...
    @property
    def gap(self) -> Gap: ...

class Ran:
    """What `run` returns: every run involved, `{"role", "dir", "result"}` (the result as
    its result.json reads), and the experiment's outcome (None for a ground-truth run)."""

    @property
    def runs(self) -> list[dict[str, Any]]: ...
    @property
    def outcome(self) -> Optional[Outcome]: ...

def run(options: str, storage: str, config: Optional[_Path] = None) -> Ran:
    """Run what a run file's keys (`options`, JSON) plan, as `w2s run`; `storage` holds
    results, device, threads and force (JSON)."""

def demo(options: str, storage: str) -> list[Outcome]:
    """The demo with its options (JSON); the outcome of each seed."""

def sweep(
    how: str,
    exe: _Path,
    path: Optional[_Path] = None,
    keys: Optional[str] = None,
    results: Optional[_Path] = None,
) -> str:
    """A sweep file (`path`) or its keys (`keys`, JSON) run as `w2s sweep` runs it; `how` holds
    jobs, devices, threads, executor, sbatch, force and dry_run (JSON); `exe` is the `w2s`
    command its workers run. Prints to `sys.stdout`; returns the results folder."""

def task_from_rows(train: str, test: str, keys: str, name: str, results: _Path) -> str:
    """Rows in memory (`train`, `test`: JSON lines) and a task file's other keys (JSON) as a
    task under `results/.tasks/<content hash>/`; returns the task file's path."""

def register_loss(name: str, source: str, function: Callable[..., object]) -> dict[str, Any]:
    """Make `function` the loss `name`; returns its config table."""

def runs_csv(results: _Path) -> str:
    """`runs.csv` of the runs under `results`."""

def report(results: str, out: str, aggregate: Optional[str] = None) -> str:
    """Write the report's files into `out`; returns the table's text."""

def datasets_list() -> list[dict[str, Any]]:
    """The registered tasks, `[{name, about, tested}]`."""

def datasets_show(
    name: str, data_dir: Optional[str] = None, n: int = 3, seed: int = 0
) -> dict[str, Any]:
    """A task's split sizes, label balance and first `n` train examples."""

def keys() -> dict[str, list[str]]:
    """The option names of a run file (`run`), `[train]` (`train`) and the demo (`demo`)."""

def cli(argv: list[str], exe: _Path) -> int:
    """The `w2s` program itself; returns its exit code."""

def set_output(verbose: bool, progress: str) -> None:
    """Logs and progress bars through `sys.stderr` (`progress`: terminal, notebook or none)."""
