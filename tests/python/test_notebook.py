"""examples/python/study.ipynb in a real Jupyter kernel (nbclient + ipykernel), as a user runs
it: a study end to end (runs, a DataFrame, a loss written in Python, a plot), then a long
MiniLM run interrupted the way the kernel's stop button interrupts it."""

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "examples" / "python" / "study.ipynb"


def _kernelspec(py, where: Path) -> None:
    """A kernel that runs the wheel's environment's Python (no cargo on its PATH)."""
    spec = where / "kernels" / "w2s-test"
    spec.mkdir(parents=True)
    env = dict(py.env)
    env["W2S_MINILM"] = os.environ.get("W2S_MINILM", str(ROOT / "models" / "all-MiniLM-L6-v2"))
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(py.python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "w2s test", "language": "python", "env": env,
        "interrupt_mode": "signal",
    }))


def test_the_study_notebook_runs_in_a_kernel_and_an_interrupt_stops_minilm(py, work, monkeypatch):
    _kernelspec(py, work / "jupyter")
    monkeypatch.setenv("JUPYTER_PATH", str(work / "jupyter"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name="w2s-test", timeout=600,
                                     resources={"metadata": {"path": str(work)}})
    sent = {}
    with client.setup_kernel():
        pid = client.km.provisioner.process.pid
        for i, cell in enumerate(nb.cells):
            tags = cell.get("metadata", {}).get("tags", [])
            timer = None
            if "interrupt" in tags:
                # What KernelManager.interrupt_kernel does for interrupt_mode "signal": SIGINT
                # to the kernel. 8 s in: MiniLM is loaded and training.
                def interrupt():
                    sent["at"] = time.time()
                    os.kill(pid, signal.SIGINT)
                timer = threading.Timer(8.0, interrupt)
                timer.start()
            client.execute_cell(cell, i)
            if timer:
                timer.cancel()
    summary = next(c for c in nb.cells if "summary" in c.metadata.get("tags", []))
    out = json.loads("".join(o.get("text", "") for o in summary.outputs).strip().splitlines()[-1])
    assert out["outcome"] == "interrupted", out
    assert "at" in sent, "the interrupt was sent"
    assert out["caught"] - sent["at"] < 2.0, (out, sent)
    assert out["stored"] == [] and out["staging"] == [], out
    # The study: 2 seeds x (bow, MiniLM, 2 students) stored, a PGR per student, predictions.
    assert out["runs"] == 8, out
    assert len(out["pgrs"]) == 4 and all(p is not None for p in out["pgrs"]), out
    assert {"label", "p1", "predicted", "correct", "weak_p1"} <= set(out["prediction_columns"])
    # Progress bars are one output each, updated in place: not one output per redraw.
    study = next(c for c in nb.cells if "study" in c.metadata.get("tags", []))
    assert len(study.outputs) <= 30, [o.get("output_type") for o in study.outputs]
    plot = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert plot, "the plot is shown"
    nbformat.validate(nb)
    print("latency", out["caught"] - sent["at"], "study outputs", len(study.outputs))
