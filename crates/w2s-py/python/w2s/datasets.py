"""The registered tasks: `w2s.datasets.list()` and `w2s.datasets.show(name)`."""

import pandas as pd

from . import _native
from ._api import _setup

__all__ = ["list", "show"]


def list() -> pd.DataFrame:  # noqa: A001  (the CLI's word: `w2s datasets list`)
    """Every registered task: name, what it is, and whether a test loads it from real files."""
    return pd.DataFrame(_native.datasets_list())


def show(name: str, data_dir=None, n: int = 3, seed: int = 0) -> dict:
    """A task's split sizes, label balance and first `n` formatted train examples. `name`: a
    registered task, `demo`, or a task file (.toml); `data_dir`: the raw files' folder (else
    the Hugging Face hub's copy)."""
    _setup()
    return _native.datasets_show(name, None if data_dir is None else str(data_dir), n, seed)
