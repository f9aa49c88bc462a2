"""A run killed at any moment (SIGKILL, also in the middle of a checkpoint save)
resumes with the same command and ends exactly where an uninterrupted run ends."""

import json
import os
import signal
import time

import numpy as np
import tensorflow as tf

import training_subprocesses as subprocesses
import train_toy

SPEC = {"train_steps": 30, "checkpoint_interval": 5, "steps_per_loop": 5, "log_interval": 5,
        "warmup_steps": 4, "weight_decay": 0.1}


def _weights(path):
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def _wait_for(path, process, timeout):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert process.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() < deadline, f"no checkpoint after {timeout}s"
        time.sleep(0.02)


def test_sigkill_and_kill_during_save_then_resume(tmp_path):
    model_dir = tmp_path / "run"
    # Slow input (50 ms a batch) so that the kill lands mid-run.
    spec = dict(SPEC, model_dir=str(model_dir), slow_seconds=0.05)

    # 1. SIGKILL as soon as the first checkpoint is recorded.
    process = subprocesses.start([spec], log_path=str(tmp_path / "first.log"))
    try:
        _wait_for(str(model_dir / "checkpoint"), process, timeout=120)
        process.send_signal(signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    first_kill = tf.train.latest_checkpoint(str(model_dir))
    assert first_kill is not None and not (model_dir / "summary.json").exists()
    killed_at = int(first_kill.rsplit("-", 1)[1])
    assert killed_at in (5, 10, 15), first_kill

    # 2. Same command: killed while saving the checkpoint after next, after its files
    #    are written and before the state file names it.
    doomed = killed_at + 10
    code, output = subprocesses.finish(
        subprocesses.start([spec], BERTLAB_TEST_KILL_BEFORE_STATE_UPDATE_OF=doomed), timeout=120)
    assert code == -signal.SIGKILL, output[-3000:]
    resume_from = killed_at + 5
    assert tf.train.latest_checkpoint(str(model_dir)).endswith(f"ckpt-{resume_from}")
    assert (model_dir / f"ckpt-{doomed}.index").exists()
    # Make the unrecorded checkpoint look half-written, and leave a save's temp folder.
    for data_file in model_dir.glob(f"ckpt-{doomed}.data-*"):
        data_file.write_bytes(data_file.read_bytes()[:7])
    (model_dir / "ckpt-25_temp").mkdir()
    (model_dir / "ckpt-25_temp" / "part-00000-of-00001.index").write_bytes(b"partial")

    # 3. Same command again: resumes from the last recorded checkpoint and finishes.
    output = subprocesses.run([spec], timeout=120)
    assert "STEPS 30" in output
    assert not (model_dir / "ckpt-25_temp").exists()
    assert tf.train.latest_checkpoint(str(model_dir)).endswith("ckpt-30")
    resumed = _weights(model_dir / "weights.npz")

    # An uninterrupted run (in this process) ends at the same weights and step.
    reference_dir = tmp_path / "reference"
    summary = train_toy.run(**dict(SPEC, model_dir=str(reference_dir)))
    assert summary["steps"] == 30
    reference = _weights(reference_dir / "weights.npz")
    assert sorted(resumed) == sorted(reference)
    for key in reference:
        np.testing.assert_array_equal(resumed[key], reference[key], err_msg=key)
    final_summary = json.loads((model_dir / "summary.json").read_text())
    assert (final_summary["start_step"], final_summary["steps"]) == (resume_from, 30)
