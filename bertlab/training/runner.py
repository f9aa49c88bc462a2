"""Run a whole training job: what an app's train script calls after reading its flags.

Example (an app's `train.py`, with the flags of `bertlab.training.flags`):
    config = load_config(MyAppConfig, FLAGS.config, flags_lib.overrides_from_flags(FLAGS))
    strategy = flags_lib.strategy_from_flags(FLAGS, config.trainer)
    summary = run_experiment(MyTask(config.task), config.trainer, config.optimizer,
                             FLAGS.model_dir, strategy)
"""

import tensorflow as tf

from bertlab.training import strategy as strategy_lib
from bertlab.layers import xla_fusion
from bertlab.training.run_config import (RUN_CONFIG_FILE, check_resume, run_config_dict,
                                         write_run_config)
from bertlab.training.trainer import Trainer

__all__ = ["RUN_CONFIG_FILE", "resolve_strategy", "run_experiment", "start_run"]


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


def start_run(task, trainer_config, optimizer_config, model_dir, make_trainer,
              allow_config_change=False):
    """Checks the run's settings against `model_dir`, builds the trainer, restores it,
    and only then records the settings; returns `(trainer, step restored)`.

    Args:
      task, trainer_config, optimizer_config, model_dir: the run.
      make_trainer: `() -> Trainer` (called after the check, so a refused resume
        builds no model).
      allow_config_change: resume even if settings that change the model, the
        data order or the schedule differ from the saved ones.

    Raises:
      RunConfigMismatchError: see `bertlab.training.run_config.check_resume`.
    """
    run_config = run_config_dict(task, trainer_config, optimizer_config)
    changes = check_resume(model_dir, run_config, allow_config_change)
    trainer = make_trainer()
    try:
        step = trainer.restore()
        if trainer.is_chief:
            write_run_config(model_dir, run_config, step, changes)
    except BaseException:
        trainer.close()
        raise
    return trainer, step


def run_experiment(task, trainer_config, optimizer_config, model_dir, strategy=None,
                   allow_config_change=False):
    """Trains `task` (resuming from `model_dir` if it holds checkpoints); returns the summary.

    Args:
        task: a `bertlab.training.task.Task`.
        trainer_config: a `TrainerConfig`.
        optimizer_config: an `OptimizerConfig`.
        model_dir: checkpoints, TensorBoard logs, `summary.json` and
            `run_config.json` (the two configs of the run) go here.
        strategy: a `tf.distribute.Strategy`, a strategy name (see
            `bertlab.training.strategy.STRATEGIES`) or None (one device).
        allow_config_change: resume even though the saved `run_config.json`
            differs in a setting that changes the training (see
            `bertlab.training.run_config`).

    Returns:
        The dict also written to `model_dir/summary.json`.

    Raises:
        RunConfigMismatchError: a resume with changed settings.
        TrainingPreempted: SIGTERM; a checkpoint was saved (exit status 143).
    """
    strategy = resolve_strategy(strategy, trainer_config)
    trainer, _ = start_run(
        task, trainer_config, optimizer_config, model_dir,
        lambda: Trainer(task, trainer_config, optimizer_config, model_dir, strategy),
        allow_config_change)
    try:
        return trainer.train()
    finally:
        trainer.close()
