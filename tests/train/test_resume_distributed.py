"""Kill -9 mid-run then --resume gives the uninterrupted result; 2-process gloo training works."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

SCRIPT = """
import sys
from graft.train.config import TrainConfig
from graft.train.finetune import finetune
data, out, resume = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
config = TrainConfig(epochs=4, lr=1e-2, batch_size=4, early_stopping=0, augment=True)
model = finetune(data, "test_cnn", "fastai", out=out, config=config, resume=resume)
print("TEST_ACC", model.lineage["metrics"]["test"]["accuracy"])
"""


def _run(script: Path, *args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(script), *map(str, args)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)


def test_kill_minus_nine_then_resume_matches_an_uninterrupted_run(colour_images, tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    full = _run(script, colour_images, tmp_path / "full", "0")
    assert full.wait(timeout=300) == 0, full.stdout.read()

    victim = _run(script, colour_images, tmp_path / "resumed", "0")
    checkpoint = tmp_path / ".resumed.train" / "checkpoint.pt"
    deadline = time.time() + 240
    while not checkpoint.exists() and victim.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert victim.poll() is None, "training finished before it could be killed"
    time.sleep(0.3)  # somewhere inside the next epoch
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert checkpoint.exists() and not (tmp_path / "resumed").exists()

    resumed = _run(script, colour_images, tmp_path / "resumed", "1")
    output = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, output
    a, b = load_file(str(tmp_path / "full" / "model.safetensors")), load_file(str(tmp_path / "resumed" / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(a[key], b[key], atol=1e-6, err_msg=key)
    assert not checkpoint.exists()  # cleaned up after a successful save


DDP_SCRIPT = """
import os, sys
from graft.train.config import TrainConfig
from graft.train.finetune import finetune
model = finetune(sys.argv[1], "test_cnn", "fastai", out=sys.argv[2],
                 config=TrainConfig(epochs=3, lr=1e-2, batch_size=8, early_stopping=0, augment=False))
print("RANK", os.environ["RANK"], "WORLD", os.environ["WORLD_SIZE"], "TEST_ACC", model.lineage["metrics"]["test"]["accuracy"])
"""


def test_two_process_gloo_training_reaches_single_process_quality(colour_images, tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    torchrun = Path(sys.executable).with_name("torchrun")
    port = str(29500 + os.getpid() % 1000)
    proc = subprocess.run([str(torchrun), "--nproc_per_node", "2", "--master_port", port, str(script),
                           str(colour_images), str(tmp_path / "ddp")], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RANK")]
    assert len(lines) == 2 and all("WORLD 2" in line for line in lines)
    accuracies = [float(line.split()[-1]) for line in lines]
    assert min(accuracies) >= 0.9
    assert (tmp_path / "ddp" / "model.safetensors").exists()
    assert not list(tmp_path.glob(".ddp.*.tmp*"))  # only rank 0 wrote, atomically
