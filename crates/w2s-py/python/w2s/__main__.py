"""The `w2s` command (and `python -m w2s`): the w2s program itself, run in this process."""

import os
import shutil
import signal
import sys


def _command() -> str:
    """The `w2s` command that sweep workers and Slurm tasks start."""
    me = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if me and not me.endswith(".py") and os.access(me, os.X_OK):
        return me
    return shutil.which("w2s") or me


def main() -> None:
    # As the native binary behaves: Ctrl-C ends the program at once, and so does a closed
    # stdout (`w2s report | head`). Python would otherwise hold both until the Rust code
    # returned.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    import torch  # noqa: F401  (the native module needs torch's libtorch loaded)

    from w2s import _native

    sys.stdout.flush()
    sys.exit(_native.cli(["w2s", *sys.argv[1:]], _command()))


if __name__ == "__main__":
    main()
