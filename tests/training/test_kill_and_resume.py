"""A run killed at any moment resumes with the same command and ends exactly where
an uninterrupted run ends: SIGKILL mid-run (a subprocess), and a death in the
middle of a checkpoint save (after the files are written, before the state file
names them)."""

import json
import os
import signal
import time

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.checkpoint import checkpoint_management

import train_toy
import training_subprocesses as subprocesses

SPEC = {"train_steps": 30, "checkpoint_interval": 5, "steps_per_loop": 5, "log_interval": 5,
        "warmup_steps": 4, "weight_decay": 0.1}


def _weights(path):
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The final weights of an uninterrupted run (in this process)."""
    model_dir = tmp_path_factory.mktemp("reference")
    summary = train_toy.run(**dict(SPEC, model_dir=str(model_dir)))
    assert summary["steps"] == 30
    return _weights(model_dir / "weights.npz")


def _assert_same_weights(path, reference):
    resumed = _weights(path)
    assert sorted(resumed) == sorted(reference)
    for key in reference:
        np.testing.assert_array_equal(resumed[key], reference[key], err_msg=key)


def _wait_for(path, process, timeout):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert process.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() < deadline, f"no checkpoint after {timeout}s"
        time.sleep(0.02)


def test_sigkill_then_same_command_resumes(tmp_path, reference):
    model_dir = tmp_path / "run"
    # Slow input (50 ms a batch) so that the kill lands mid-run.
    spec = dict(SPEC, model_dir=str(model_dir), slow_seconds=0.05)

    process = subprocesses.start([spec], log_path=str(tmp_path / "killed.log"))
    try:
        _wait_for(str(model_dir / "checkpoint"), process, timeout=120)
        process.send_signal(signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    killed_at = tf.train.latest_checkpoint(str(model_dir))
    assert killed_at is not None and not (model_dir / "summary.json").exists()
    resume_from = int(killed_at.rsplit("-", 1)[1])
    assert resume_from < 30

    output = subprocesses.run([spec], timeout=120)
    assert "STEPS 30" in output
    assert tf.train.latest_checkpoint(str(model_dir)).endswith("ckpt-30")
    summary = json.loads((model_dir / "summary.json").read_text())
    assert (summary["start_step"], summary["steps"]) == (resume_from, 30)
    _assert_same_weights(model_dir / "weights.npz", reference)


class _Died(Exception):
    pass


def test_death_during_a_save_keeps_the_previous_checkpoint(tmp_path, reference, monkeypatch):
    model_dir = tmp_path / "run"
    spec = dict(SPEC, model_dir=str(model_dir), keep_checkpoints=10)
    original = checkpoint_management.update_checkpoint_state_internal

    def dies_before_recording_ckpt_10(save_dir, model_checkpoint_path, *args, **kwargs):
        if model_checkpoint_path.endswith("ckpt-10"):
            raise _Died()
        return original(save_dir, model_checkpoint_path, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(checkpoint_management, "update_checkpoint_state_internal",
                      dies_before_recording_ckpt_10)
        with pytest.raises(_Died):
            train_toy.run(**spec)
    # ckpt-10's files are all there, but the state file still names ckpt-5.
    assert tf.train.latest_checkpoint(str(model_dir)).endswith("ckpt-5")
    assert (model_dir / "ckpt-10.index").exists()
    # Make them look half-written, and leave the temporary folder of another save.
    for data_file in model_dir.glob("ckpt-10.data-*"):
        data_file.write_bytes(data_file.read_bytes()[:7])
    (model_dir / "ckpt-15_temp").mkdir()
    (model_dir / "ckpt-15_temp" / "part-00000-of-00001.index").write_bytes(b"partial")

    summary = train_toy.run(**spec)
    assert (summary["start_step"], summary["steps"]) == (5, 30)
    assert not (model_dir / "ckpt-15_temp").exists()
    _assert_same_weights(model_dir / "weights.npz", reference)
    assert tf.train.latest_checkpoint(str(model_dir)).endswith("ckpt-30")
    # The half-written ckpt-10 was replaced whole when step 10 was saved again.
    remade = tf.train.load_checkpoint(str(model_dir / "ckpt-10"))
    assert remade.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE") == 10
