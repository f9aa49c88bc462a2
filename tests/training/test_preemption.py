"""SIGTERM during training saves a checkpoint and exits with status 143; the same command
resumes from it and ends with the weights of an uninterrupted run."""

import os
import signal
import threading
import time

import numpy as np
import tensorflow as tf

import train_toy
import training_subprocesses as subprocesses
from bertlab.training.preemption import (PREEMPTED_EXIT_CODE, PreemptionWatcher,
                                         TrainingPreempted)

# No periodic checkpoint before the end: the one a SIGTERM leaves is the preemption save.
# Dropout: a resume must go on with the masks an uninterrupted run draws.
SPEC = {"train_steps": 30, "checkpoint_interval": 0, "steps_per_loop": 3, "log_interval": 3,
        "warmup_steps": 4, "weight_decay": 0.1, "dropout": 0.3}


def _wait_for_text(path, text, process, timeout):
    deadline = time.monotonic() + timeout
    while text not in (path.read_text(errors="replace") if path.exists() else ""):
        assert process.poll() is None, "the run ended before training started:\n" + \
            path.read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, f"no {text!r} after {timeout}s"
        time.sleep(0.02)


def test_sigterm_saves_a_checkpoint_exits_143_and_the_same_command_resumes(tmp_path):
    reference_dir = tmp_path / "reference"
    train_toy.run(**dict(SPEC, model_dir=str(reference_dir)))
    reference = subprocesses.load_weights(reference_dir / "weights.npz")

    model_dir = tmp_path / "run"
    # Slow input (40 ms a batch): the signal lands mid-run. The progress line of step 3
    # says the handler is in place.
    spec = dict(SPEC, model_dir=str(model_dir), slow_seconds=0.04)
    log = tmp_path / "preempted.log"
    process = subprocesses.start([spec], log_path=str(log))
    try:
        _wait_for_text(log, "step 3/30", process, timeout=120)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)  # a safety net: it saves, then exits
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = log.read_text(errors="replace")
    assert process.returncode == PREEMPTED_EXIT_CODE, output[-3000:]
    saved = tf.train.latest_checkpoint(str(model_dir))
    assert saved is not None and not (model_dir / "summary.json").exists()
    step = int(saved.rsplit("-", 1)[1])
    assert 3 <= step < 30
    assert f"Stopped by SIGTERM at step {step} (checkpoint {saved})" in output
    assert "Rerun the same command to resume" in output

    summary = train_toy.run(**dict(SPEC, model_dir=str(model_dir)))  # no slow input
    assert (summary["start_step"], summary["steps"]) == (step, 30)
    resumed = subprocesses.load_weights(model_dir / "weights.npz")
    assert sorted(resumed) == sorted(reference)
    for key in reference:
        np.testing.assert_array_equal(resumed[key], reference[key], err_msg=key)


def test_watcher_turns_sigterm_into_a_flag_and_puts_the_handler_back():
    previous = signal.getsignal(signal.SIGTERM)
    with PreemptionWatcher() as watcher:
        assert signal.getsignal(signal.SIGTERM) == watcher._handle
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.monotonic() + 5
        while not watcher.requested and time.monotonic() < deadline:
            time.sleep(0.01)
        assert watcher.requested and watcher.signal_count == 1
    assert signal.getsignal(signal.SIGTERM) == previous


def test_watcher_outside_the_main_thread_leaves_sigterm_alone():
    previous = signal.getsignal(signal.SIGTERM)
    seen = []

    def enter():
        with PreemptionWatcher() as watcher:
            seen.append((signal.getsignal(signal.SIGTERM), watcher.requested))

    thread = threading.Thread(target=enter)
    thread.start()
    thread.join()
    assert seen == [(previous, False)]


def test_training_preempted_is_an_exit_with_status_143():
    error = TrainingPreempted(12, "/runs/x/ckpt-12")
    assert isinstance(error, SystemExit) and error.code == 143 == PREEMPTED_EXIT_CODE
    assert str(error) == ("Stopped by SIGTERM at step 12 (checkpoint /runs/x/ckpt-12); exit "
                          "status 143. Rerun the same command to resume.")
    assert (error.step, error.checkpoint) == (12, "/runs/x/ckpt-12")


def test_a_checkpoint_without_generator_states_still_restores(tmp_path):
    # Written by a model without dropout, as by a version that did not save the states.
    spec = dict(model_dir=str(tmp_path), train_steps=2, steps_per_loop=2)
    train_toy.run(**spec)
    summary = train_toy.run(**dict(spec, train_steps=4, dropout=0.3))
    assert (summary["start_step"], summary["steps"]) == (2, 4)
