"""Type stubs of `w2s._native`, the Rust side of the package (crates/w2s-py/src/lib.rs).

Options cross as JSON text in the keys of a run or sweep file; results come back as JSON text
of the stored structs. `w2s/_api.py` is the typed, documented surface users call.
"""

import os
from typing import Callable, Optional, Union

_Path = Union[str, "os.PathLike[str]"]

__version__: str

def run(options: str, storage: str, config: Optional[_Path] = None) -> str:
    """Run what a run file's keys (`options`, JSON) plan, as `w2s run`; `storage` holds
    results, device, threads and force. Returns `{"runs": [...], "outcome": ...}` as JSON."""

def demo(options: str, storage: str) -> str:
    """The demo with its options (JSON); the outcome of each seed, as JSON."""

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

def register_loss(name: str, source: str, function: Callable[..., object]) -> str:
    """Make `function` the loss `name`; returns its config table as JSON."""

def runs_csv(results: _Path) -> str:
    """`runs.csv` of the runs under `results`."""

def report(results: str, out: str, aggregate: Optional[str] = None) -> str:
    """Write the report's files into `out`; returns the table's text."""

def datasets_list() -> str:
    """The registered tasks, as JSON `[{name, about, tested}]`."""

def datasets_show(name: str, data_dir: Optional[str] = None, n: int = 3, seed: int = 0) -> str:
    """A task's split sizes, label balance and first `n` train examples, as JSON."""

def keys() -> str:
    """The option names of a run file, `[train]` and the demo, as JSON."""

def cli(argv: list[str], exe: _Path) -> int:
    """The `w2s` program itself; returns its exit code."""

def set_output(verbose: bool, progress: str) -> None:
    """Logs and progress bars through `sys.stderr` (`progress`: terminal, notebook or none)."""
