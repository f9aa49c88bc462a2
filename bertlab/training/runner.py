"""Run a whole training job: what an app's train script calls after reading its flags.

Example (an app's `train.py`, with the flags of `bertlab.training.flags`):
    config = load_config(MyAppConfig, FLAGS.config, flags_lib.overrides_from_flags(FLAGS))
    strategy = flags_lib.strategy_from_flags(FLAGS, config.trainer)
    summary = run_experiment(MyTask(config.task), config.trainer, config.optimizer,
                             FLAGS.model_dir, strategy)
"""

import dataclasses
import os

import tensorflow as tf

from bertlab.training import strategy as strategy_lib
from bertlab.layers import xla_fusion
from bertlab.training.summary import write_json_atomic
from bertlab.training.trainer import Trainer

RUN_CONFIG_FILE = "run_config.json"


def resolve_strategy(strategy, trainer_config):
    """The strategy of a run: `strategy` itself, the one a name stands for, or None.

    Turns on `trainer_config.xla_fusion` first, since building a strategy sets
    up TensorFlow's devices (see `bertlab.layers.xla_fusion`).

    Raises:
      ValueError: `strategy` is neither a `tf.distribute.Strategy`, a name nor None.
    """
    if trainer_config.xla_fusion:
        xla_fusion.enable_elementwise_fusion()
    if isinstance(strategy, str):
        return strategy_lib.build_strategy(strategy)
    if strategy is not None and not isinstance(strategy, tf.distribute.Strategy):
        raise ValueError(
            f"`strategy` must be a tf.distribute.Strategy, a name or None, got {strategy!r}.")
    return strategy


def write_run_config(model_dir, task, trainer_config, optimizer_config):
    """Writes `model_dir/run_config.json`: the runner's and the optimizer's settings,
    the task's class and, when the task has a dataclass `config`, its settings (data,
    model, labels: what a later reader needs to know how the run trained)."""
    run_config = {
        "trainer": dataclasses.asdict(trainer_config),
        "optimizer": dataclasses.asdict(optimizer_config),
        "task": type(task).__name__,
    }
    task_config = getattr(task, "config", None)
    if dataclasses.is_dataclass(task_config) and not isinstance(task_config, type):
        run_config["task_config"] = dataclasses.asdict(task_config)
    write_json_atomic(os.path.join(model_dir, RUN_CONFIG_FILE), run_config)


def run_experiment(task, trainer_config, optimizer_config, model_dir, strategy=None):
    """Trains `task` (resuming from `model_dir` if it holds checkpoints); returns the summary.

    Args:
        task: a `bertlab.training.task.Task`.
        trainer_config: a `TrainerConfig`.
        optimizer_config: an `OptimizerConfig`.
        model_dir: checkpoints, TensorBoard logs, `summary.json` and
            `run_config.json` (the two configs of the run) go here.
        strategy: a `tf.distribute.Strategy`, a strategy name (see
            `bertlab.training.strategy.STRATEGIES`) or None (one device).

    Returns:
        The dict also written to `model_dir/summary.json`.
    """
    strategy = resolve_strategy(strategy, trainer_config)
    trainer = Trainer(task, trainer_config, optimizer_config, model_dir, strategy)
    if trainer.is_chief:
        write_run_config(model_dir, task, trainer_config, optimizer_config)
    try:
        return trainer.train()
    finally:
        trainer.close()
