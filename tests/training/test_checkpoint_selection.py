"""Checkpoint selection: the run's checkpoints listed, averaged, and the best by a metric
left in the model."""

import os

import numpy as np
import tensorflow as tf

from bertlab.tasks.seq2seq import Seq2SeqTask
from bertlab.text.sentencepiece_tokenizer import SubwordConfig, subword_tokenizer
from bertlab.training import OptimizerConfig, TrainerConfig, run_experiment
from bertlab.training.checkpoint_selection import (CheckpointSelectionConfig,
                                                   average_checkpoint_weights, run_checkpoints,
                                                   select_checkpoint)
from tests.tasks.helpers import tiny_seq2seq_config as _tiny_config


def test_training_selection_and_averaging(pairs, spm_path, tmp_path):
    tokenizer = subword_tokenizer(SubwordConfig(), pairs[0] + pairs[1], spm_path)
    task = Seq2SeqTask(_tiny_config(), tokenizer, {"train": pairs, "validation": pairs}, 16)
    model_dir = str(tmp_path / "run")
    summary = run_experiment(task, TrainerConfig(train_steps=6, global_batch_size=16,
                                                 steps_per_loop=3, log_interval=3,
                                                 checkpoint_interval=2, keep_checkpoints=3),
                             OptimizerConfig(learning_rate=1e-3), model_dir)
    assert summary["final_eval"]["perplexity"] > 1
    paths = run_checkpoints(model_dir)
    assert [os.path.basename(p) for p in paths] == ["ckpt-2", "ckpt-4", "ckpt-6"]
    model = task.model
    snapshots = {}
    for path in paths:
        tf.train.Checkpoint(model=model).restore(path).expect_partial()
        snapshots[os.path.basename(path)] = [w.copy() for w in model.get_weights()]
    average_checkpoint_weights(model, paths[1:])
    for got, a, b in zip(model.get_weights(), snapshots["ckpt-4"], snapshots["ckpt-6"]):
        np.testing.assert_allclose(got, (a + b) / 2, rtol=1e-5, atol=1e-7)
    # The metric decides: make ckpt-4 the best and check the model ends there.
    scores = iter([1.0, 5.0, 2.0, 3.0])
    config = CheckpointSelectionConfig(num_checkpoints=3, average_last=2, metric="score")
    best, results = select_checkpoint(model, model_dir, config,
                                      lambda: {"score": next(scores)}, log_fn=lambda _: None)
    assert best == "ckpt-4" and len(results) == 4
    assert "average(ckpt-4..ckpt-6)" in results
    for got, want in zip(model.get_weights(), snapshots["ckpt-4"]):
        np.testing.assert_array_equal(got, want)
