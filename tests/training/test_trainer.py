"""Trainer on one device: loss, evaluation, summary.json, TensorBoard, accumulation,
mixed precision, XLA, errors. (Distribution and kills: test_distributed.py,
test_kill_and_resume.py.)"""

import glob
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import training_subprocesses as subprocesses
from toy_task import ToyTask
from bertlab.training.configs import OptimizerConfig, TrainerConfig
from bertlab.training.trainer import Trainer
from training_subprocesses import load_weights


def read_scalars(log_dir):
    """`{tag: {step: value}}` from the TensorBoard event files in `log_dir`."""
    scalars = {}
    for path in glob.glob(os.path.join(log_dir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                scalars.setdefault(value.tag, {})[event.step] = float(
                    tf.make_ndarray(value.tensor))
    return scalars


def numpy_loss(model, task, x, y, w):
    logits = model({"x": x}, training=False)["logits"].numpy().astype("float64")
    logits -= logits.max(-1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    return float(-(log_probs[np.arange(len(y)), y] * w).sum() / w.sum())


def train(model_dir, steps=4, batch=16, optimizer=None, seed=3, regularization=0.0, **kwargs):
    task = ToyTask(global_batch_size=batch, regularization=regularization)
    config = TrainerConfig(train_steps=steps, global_batch_size=batch, steps_per_loop=2,
                           log_interval=1, checkpoint_interval=0, eval_at_end=False, seed=seed,
                           **kwargs)
    trainer = Trainer(task, config, optimizer or OptimizerConfig(learning_rate=0.05), model_dir)
    summary = trainer.train()
    return trainer, summary, read_scalars(os.path.join(model_dir, "train"))


def weights(trainer):
    return [v.numpy() for v in trainer.model.trainable_variables]


def test_summary_tensorboard_checkpoints_and_evaluation(tmp_path):
    task = ToyTask(global_batch_size=16)
    config = TrainerConfig(train_steps=6, global_batch_size=16, steps_per_loop=4, log_interval=2,
                           checkpoint_interval=3, keep_checkpoints=3, eval_interval=3, seed=5)
    optimizer = OptimizerConfig(learning_rate=0.02, warmup_steps=2)
    keras.utils.set_random_seed(config.seed)
    initial = task.build_model()  # what the Trainer builds, by the same seed
    x, y, w = task.train
    first_loss = numpy_loss(initial, task, x[:16], y[:16], w[:16])

    trainer = Trainer(task, config, optimizer, str(tmp_path))
    summary = trainer.train()

    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk["steps"] == summary["steps"] == 6
    assert on_disk["steps_this_run"] == 6 and on_disk["start_step"] == 0
    assert on_disk["examples_per_step"] == 16 and on_disk["num_replicas"] == 1
    assert on_disk["examples_per_second"] > 0 and on_disk["wall_time_seconds"] > 0
    assert set(on_disk["final_train"]) >= {"loss", "learning_rate", "accuracy", "gradient_norm"}
    vx, vy, vw = task.validation
    expected_eval = numpy_loss(trainer.model, task, vx, vy, vw)
    np.testing.assert_allclose(on_disk["final_eval"]["loss"], expected_eval, rtol=1e-5)
    predicted = trainer.model({"x": vx})["logits"].numpy().argmax(-1)
    np.testing.assert_allclose(on_disk["final_eval"]["accuracy"],
                               ((predicted == vy) * vw).sum() / vw.sum(), rtol=1e-6)
    assert on_disk["latest_checkpoint"].endswith("ckpt-6")
    assert sorted(os.path.basename(p) for p in glob.glob(str(tmp_path / "ckpt-*.index"))) == [
        "ckpt-3.index", "ckpt-6.index"]

    train_scalars = read_scalars(str(tmp_path / "train"))
    for tag in ("loss", "learning_rate", "examples_per_second", "steps_per_second",
                "gradient_norm", "accuracy"):
        assert sorted(train_scalars[tag]) == [2, 4, 6], tag
    # The learning rate logged at step s is the one of the next update: lr(s).
    np.testing.assert_allclose(train_scalars["learning_rate"][2], 0.02, rtol=1e-6)
    np.testing.assert_allclose(train_scalars["learning_rate"][4], 0.02 * 2 / 4, rtol=1e-6)
    validation = read_scalars(str(tmp_path / "validation"))
    assert sorted(validation["loss"]) == [3, 6] and sorted(validation["accuracy"]) == [3, 6]

    # The first step's loss (logged as the mean of steps 1-2) starts from the
    # weighted mean over the first batch; check it with log_interval=1.
    _, _, scalars = train(str(tmp_path / "one"), steps=1, optimizer=OptimizerConfig(
        learning_rate=0.02, warmup_steps=0), seed=5)
    np.testing.assert_allclose(scalars["loss"][1], first_loss, rtol=1e-5)


def test_gradient_accumulation_equals_one_large_batch(tmp_path):
    optimizer = OptimizerConfig(learning_rate=0.05, warmup_steps=1, epsilon=0.05, clipnorm=0.5)
    big, big_summary, big_scalars = train(str(tmp_path / "big"), steps=3, batch=32,
                                          optimizer=optimizer, regularization=0.01)
    acc, acc_summary, acc_scalars = train(str(tmp_path / "acc"), steps=3, batch=8,
                                          gradient_accumulation_steps=4, optimizer=optimizer,
                                          regularization=0.01)
    assert acc_summary["examples_per_step"] == 32 and acc_summary["steps"] == 3
    for a, b in zip(weights(acc), weights(big)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for step in (1, 2, 3):
        np.testing.assert_allclose(acc_scalars["loss"][step], big_scalars["loss"][step], rtol=1e-5)
        np.testing.assert_allclose(acc_scalars["gradient_norm"][step],
                                   big_scalars["gradient_norm"][step], rtol=1e-5)
    # The L2 term is in the loss once (not once per micro-batch or replica).
    _, _, plain_scalars = train(str(tmp_path / "plain"), steps=1, batch=32, optimizer=optimizer)
    keras.utils.set_random_seed(3)  # the Trainer's seed: its initial weights
    initial_kernel = ToyTask(regularization=0.01).build_model().get_layer("hidden").kernel.numpy()
    np.testing.assert_allclose(big_scalars["loss"][1] - plain_scalars["loss"][1],
                               0.01 * np.sum(initial_kernel.astype("float64") ** 2), rtol=1e-4)
    # The first step's gradient is that of (weighted mean loss + L2) on the first 32 examples.
    keras.utils.set_random_seed(3)
    task = ToyTask(regularization=0.01)
    model = task.build_model()
    x, y, w = task.train
    with tf.GradientTape() as tape:
        loss_sum, weight_sum = task.compute_loss({"label": y[:32], "weight": w[:32]},
                                                 model({"x": x[:32]}, training=True))
        loss = loss_sum / weight_sum + tf.add_n(model.losses)
    norm = tf.linalg.global_norm(tape.gradient(loss, model.trainable_variables))
    np.testing.assert_allclose(big_scalars["gradient_norm"][1], float(norm), rtol=1e-5)
    np.testing.assert_allclose(big_scalars["loss"][1], float(loss), rtol=1e-5)


def test_mixed_bfloat16_follows_float32(tmp_path):
    fp32, _, fp32_scalars = train(str(tmp_path / "fp32"), steps=4)
    bf16, summary, bf16_scalars = train(str(tmp_path / "bf16"), steps=4,
                                        mixed_precision="mixed_bfloat16")
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    assert bf16.model.get_layer("hidden").compute_dtype == "bfloat16"
    assert all(v.dtype == "float32" for v in bf16.model.trainable_variables)
    assert not isinstance(bf16.optimizer, keras.optimizers.LossScaleOptimizer)
    assert summary["mixed_precision"] == "mixed_bfloat16"
    for step in (1, 2, 3, 4):
        assert np.isfinite(bf16_scalars["loss"][step])
        np.testing.assert_allclose(bf16_scalars["loss"][step], fp32_scalars["loss"][step],
                                   rtol=3e-2)


def test_mixed_float16_scales_the_loss(tmp_path):
    _, _, fp32_scalars = train(str(tmp_path / "fp32"), steps=3)
    fp16, summary, fp16_scalars = train(str(tmp_path / "fp16"), steps=3,
                                        mixed_precision="mixed_float16")
    assert isinstance(fp16.optimizer, keras.optimizers.LossScaleOptimizer)
    assert fp16.model.get_layer("hidden").compute_dtype == "float16"
    assert int(fp16.optimizer.iterations.numpy()) == 3  # no step skipped
    assert fp16_scalars["loss_scale"][3] == 2.0**15
    for step in (1, 2, 3):
        np.testing.assert_allclose(fp16_scalars["loss"][step], fp32_scalars["loss"][step],
                                   rtol=1e-2)
        np.testing.assert_allclose(fp16_scalars["gradient_norm"][step],
                                   fp32_scalars["gradient_norm"][step], rtol=2e-2)


def test_jit_compile_matches_graph_mode(tmp_path):
    plain, _, plain_scalars = train(str(tmp_path / "plain"), steps=3)
    jit, _, jit_scalars = train(str(tmp_path / "jit"), steps=3, jit_compile=True)
    for step in (1, 2, 3):
        np.testing.assert_allclose(jit_scalars["loss"][step], plain_scalars["loss"][step],
                                   rtol=1e-5)
    for a, b in zip(weights(jit), weights(plain)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_restart_after_the_end_trains_nothing_and_longer_run_continues(tmp_path):
    trainer, summary, _ = train(str(tmp_path), steps=2)
    trainer.close()
    again, summary, _ = train(str(tmp_path), steps=2)
    assert summary["steps_this_run"] == 0 and summary["steps"] == 2
    for a, b in zip(weights(again), weights(trainer)):
        np.testing.assert_array_equal(a, b)
    longer, summary, _ = train(str(tmp_path), steps=4)
    assert (summary["start_step"], summary["steps"]) == (2, 4)
    assert int(longer.optimizer.iterations.numpy()) == 4


def test_bad_arguments(tmp_path):
    task = ToyTask(global_batch_size=16)
    with pytest.raises(ValueError, match="task"):
        Trainer(object(), TrainerConfig(), OptimizerConfig(), str(tmp_path))
    with pytest.raises(ValueError, match="config"):
        Trainer(task, {"train_steps": 3}, OptimizerConfig(), str(tmp_path))
    with pytest.raises(ValueError, match="global_batch_size"):
        Trainer(task, TrainerConfig(global_batch_size=8), OptimizerConfig(), str(tmp_path))
    with pytest.raises(ValueError, match="warmup_steps"):
        Trainer(task, TrainerConfig(global_batch_size=16, train_steps=5),
                OptimizerConfig(warmup_steps=10), str(tmp_path))
    trainer = Trainer(task, TrainerConfig(global_batch_size=16, train_steps=5), OptimizerConfig(),
                      str(tmp_path))
    with pytest.raises(ValueError, match="steps"):
        trainer.evaluate(steps=0)
    results = trainer.evaluate(steps=1)  # 16 of the 40 validation examples
    vx, vy, vw = task.validation
    np.testing.assert_allclose(results["loss"], numpy_loss(trainer.model, task, vx[:16], vy[:16],
                                                           vw[:16]), rtol=1e-5)


class FiniteToyTask(ToyTask):
    def build_dataset(self, split, input_context=None):
        return super().build_dataset(split, input_context).take(3)


def test_train_data_that_runs_out_is_a_clear_error(tmp_path):
    trainer = Trainer(FiniteToyTask(global_batch_size=16),
                      TrainerConfig(train_steps=5, global_batch_size=16, steps_per_loop=5),
                      OptimizerConfig(), str(tmp_path))
    with pytest.raises(ValueError, match="repeat indefinitely"):
        trainer.train()


class DivergingToyTask(ToyTask):
    def compute_loss(self, labels, outputs):
        loss_sum, weight_sum = super().compute_loss(labels, outputs)
        return loss_sum * float("nan"), weight_sum


def test_nan_loss_stops_before_checkpointing(tmp_path):
    trainer = Trainer(DivergingToyTask(global_batch_size=16),
                      TrainerConfig(train_steps=4, global_batch_size=16, steps_per_loop=2,
                                    checkpoint_interval=2),
                      OptimizerConfig(), str(tmp_path))
    with pytest.raises(FloatingPointError, match="nan in steps 1-2"):
        trainer.train()
    assert not glob.glob(str(tmp_path / "ckpt-*"))


def test_training_with_xla_fusion_clusters_and_follows_the_plain_run(tmp_path):
    spec = {"train_steps": 4, "steps_per_loop": 2, "learning_rate": 0.05}
    fused = subprocesses.run([dict(spec, model_dir=str(tmp_path / "fused"), xla_fusion=True)],
                             TF_CPP_MIN_LOG_LEVEL="0", TF_XLA_FLAGS="")
    assert "Compiled cluster using XLA" in fused
    plain = subprocesses.run([dict(spec, model_dir=str(tmp_path / "plain"))],
                             TF_CPP_MIN_LOG_LEVEL="0", TF_XLA_FLAGS="")
    assert "Compiled cluster using XLA" not in plain
    summary = json.loads((tmp_path / "fused" / "summary.json").read_text())
    assert summary["xla_fusion"] is True and summary["steps"] == 4
    fused_weights = load_weights(tmp_path / "fused" / "weights.npz")
    plain_weights = load_weights(tmp_path / "plain" / "weights.npz")
    assert fused_weights.keys() == plain_weights.keys()
    for name in plain_weights:
        np.testing.assert_allclose(fused_weights[name], plain_weights[name], rtol=1e-4,
                                   atol=1e-5, err_msg=name)


class _NoTrainMetricsTask(ToyTask):
    """Judged by its loss while it trains (a language model: no second softmax);
    `update_metrics` takes only the evaluation metrics."""

    def build_train_metrics(self):
        return []

    def update_metrics(self, metrics, labels, outputs):
        (accuracy,) = metrics
        accuracy.update_state(labels["label"], outputs["logits"], sample_weight=labels["weight"])


def test_a_task_without_training_metrics_trains_and_evaluates(tmp_path):
    task = _NoTrainMetricsTask(global_batch_size=16)
    config = TrainerConfig(train_steps=2, global_batch_size=16, steps_per_loop=2,
                           log_interval=1, checkpoint_interval=0, eval_at_end=True, seed=3)
    summary = Trainer(task, config, OptimizerConfig(learning_rate=0.05), str(tmp_path)).train()
    assert summary["steps"] == 2
    assert "accuracy" not in summary["final_train"]
    assert 0.0 <= summary["final_eval"]["accuracy"] <= 1.0
    scalars = read_scalars(str(tmp_path / "train"))
    assert "accuracy" not in scalars and np.isfinite(scalars["loss"][2])
