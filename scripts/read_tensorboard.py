"""Read back the TensorBoard event files of a run folder with TensorBoard's own reader and
print every scalar as JSON: {tag: [[step, value], ...]}. Used by w2s's tests.

Usage: python scripts/read_tensorboard.py RUN_FOLDER
"""
import json
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
acc.Reload()
out = {
    tag: [[e.step, e.value] for e in acc.Scalars(tag)]
    for tag in acc.Tags()["scalars"]
}
print(json.dumps(out))
