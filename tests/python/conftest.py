"""The Python package as a user gets it: the wheel (W2S_WHEEL, else built with `./dev wheel`)
installed into a fresh virtual environment that holds nothing but it, its declared
dependencies and an already-downloaded torch (the development venv's, made visible through a
.pth file, so that 5 GB are not installed again), with no cargo or rustc on PATH. Each test
runs a script with that environment's Python."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _wheel() -> Path:
    given = os.environ.get("W2S_WHEEL")
    if given:
        return Path(given)
    out = subprocess.run([str(ROOT / "dev"), "wheel", "--profile", "dev"], check=True,
                         capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def _path_without_rust() -> str:
    """PATH less every folder that holds cargo or rustc."""
    keep = [d for d in os.environ.get("PATH", "").split(os.pathsep)
            if d and not any(os.path.exists(os.path.join(d, t)) for t in ("cargo", "rustc"))]
    return os.pathsep.join(keep)


class Env:
    def __init__(self, venv: Path, home: Path):
        self.venv = venv
        self.python = venv / "bin" / "python"
        self.env = {
            "PATH": os.pathsep.join([str(venv / "bin"), _path_without_rust()]),
            "HOME": str(home),
            "LANG": "C.UTF-8",
            # Offline: the models used here are local folders.
            "HF_HUB_OFFLINE": "1",
        }
        for k in ("W2S_MINILM", "W2S_SHARED", "TMPDIR"):
            if k in os.environ:
                self.env[k] = os.environ[k]

    def run(self, script: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
        """Run `script` with the venv's Python in `cwd`; the last line it prints is JSON."""
        p = subprocess.run([str(self.python), "-c", textwrap.dedent(script)], cwd=cwd,
                           env=self.env, capture_output=True, text=True, timeout=900)
        if check and p.returncode != 0:
            raise AssertionError(f"script failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        return p

    def json(self, script: str, cwd: Path):
        out = self.run(script, cwd).stdout.strip().splitlines()
        return json.loads(out[-1])

    def command(self, args, cwd: Path) -> subprocess.CompletedProcess:
        return subprocess.run(args, cwd=cwd, env=self.env, capture_output=True, text=True,
                              timeout=900)


@pytest.fixture(scope="session")
def py(tmp_path_factory) -> Env:
    wheel = _wheel()
    base = tmp_path_factory.mktemp("venv")
    venv = base / "venv"
    # No pip of its own: the development venv's pip installs into it (offline: --no-index).
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = subprocess.run([str(venv / "bin" / "python"), "-c",
                           "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    import torch  # the development venv's: where the already-downloaded torch is

    torch_site = str(Path(torch.__file__).resolve().parents[1])
    Path(site, "already_downloaded_torch.pth").write_text(torch_site + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "--no-index", "--quiet", "--disable-pip-version-check", str(wheel)],
                   check=True)
    return Env(venv, base)


@pytest.fixture
def work(tmp_path) -> Path:
    """A working folder with a space in its name, as a user's might have."""
    d = tmp_path / "my work"
    d.mkdir()
    return d
