"""Trains `toy_task.ToyTask` with bertlab's Trainer; run by the training tests in a
subprocess (for kills, logical devices and multi-worker clusters).

Each `--run` is a JSON object of `run()` keyword arguments; the runs share one
process. The final weights go to `<model_dir>/weights.npz` (`weights<i>.npz`
with TOY_WORKER_INDEX=i).
"""

import argparse
import json
import os
import sys

from absl import logging


def _configure_devices(logical_cpus):
    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(2)
    tf.config.threading.set_intra_op_parallelism_threads(2)
    if logical_cpus > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(logical_cpus)])


def run(model_dir, strategy="default", devices=None, train_steps=10, batch=16, accumulation=1,
        steps_per_loop=2, checkpoint_interval=0, log_interval=1, learning_rate=0.05,
        warmup_steps=2, clipnorm=None, epsilon=1e-6, weight_decay=0.01, slow_seconds=0.0,
        mixed_precision=None, eval_at_end=False, keep_checkpoints=2, xla_fusion=False,
        dropout=0.0):
    import numpy as np

    import toy_task
    from bertlab.training.configs import OptimizerConfig, TrainerConfig
    from bertlab.training.strategy import build_strategy
    from bertlab.training.trainer import Trainer

    if xla_fusion:  # before the strategy sets up the devices
        from bertlab.layers.xla_fusion import enable_elementwise_fusion
        enable_elementwise_fusion()
    task = toy_task.ToyTask(global_batch_size=batch, slow_seconds=slow_seconds, dropout=dropout)
    trainer_config = TrainerConfig(
        train_steps=train_steps, global_batch_size=batch, steps_per_loop=steps_per_loop,
        checkpoint_interval=checkpoint_interval, keep_checkpoints=keep_checkpoints,
        log_interval=log_interval,
        gradient_accumulation_steps=accumulation, mixed_precision=mixed_precision,
        eval_at_end=eval_at_end, xla_fusion=xla_fusion, seed=7)
    optimizer_config = OptimizerConfig(
        learning_rate=learning_rate, warmup_steps=warmup_steps, clipnorm=clipnorm,
        epsilon=epsilon, weight_decay=weight_decay)
    trainer = Trainer(task, trainer_config, optimizer_config, model_dir,
                      build_strategy(strategy, devices=devices))
    summary = trainer.train()
    weights = {v.path: v.numpy() for v in trainer.model.weights}
    worker = os.environ.get("TOY_WORKER_INDEX", "")
    np.savez(os.path.join(model_dir, f"weights{worker}.npz"), **weights)
    return summary


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--logical_cpus", type=int, default=1)
    parser.add_argument("--run", action="append", required=True, help="JSON kwargs of run()")
    args = parser.parse_args()
    logging.set_verbosity(logging.INFO)  # progress lines, which tests may wait for
    _configure_devices(args.logical_cpus)
    for spec in args.run:
        summary = run(**json.loads(spec))
        print("STEPS", summary["steps"], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
