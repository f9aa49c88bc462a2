"""A fine-tuning run measured in epochs: `ScheduleConfig` and `apply_schedule`.

The runner counts steps; fine-tuning is naturally planned in epochs of the
task's training data, with a validation evaluation a few times per epoch and a
warm-up that is a fraction of the run. `apply_schedule` turns the one into the
other (`trainer.train_steps`, `trainer.eval_interval`, `optimizer.warmup_steps`).

Example:
>>> schedule = ScheduleConfig(epochs=3, warmup_fraction=0.1)
>>> trainer_config, optimizer_config = apply_schedule(
...     schedule, trainer_config, optimizer_config, num_train_examples=67349)
"""

import dataclasses
import math

from absl import logging


@dataclasses.dataclass
class ScheduleConfig:
    """The length of a fine-tuning run in epochs.

    Attributes:
      epochs: > 0: train for this many passes over the training split
        (fractions allowed); this sets the runner's `train_steps`. 0: use
        `trainer.train_steps` and `trainer.eval_interval` as given.
      evals_per_epoch: validation evaluations per epoch (sets
        `trainer.eval_interval`).
      warmup_fraction: the learning-rate warm-up as a fraction of the run
        (sets `optimizer.warmup_steps`); None: keep `optimizer.warmup_steps`.
      final_fit: the run after the settings were chosen: it trains on the whole
        training split (the validation split carved from it by
        `task.data.holdout_every` included), evaluates nothing during training,
        and exports the last weights; the `report` split is still scored once.
        (The number of epochs counts passes over the whole split.)
    """

    epochs: float = 0.0
    evals_per_epoch: int = 1
    warmup_fraction: float = 0.1
    final_fit: bool = False

    def __post_init__(self):
        if self.epochs < 0:
            raise ValueError(f"`epochs` must be >= 0, got {self.epochs}.")
        if self.evals_per_epoch < 1:
            raise ValueError(f"`evals_per_epoch` must be positive, got {self.evals_per_epoch}.")
        if self.warmup_fraction is not None and not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(f"`warmup_fraction` must be in [0, 1), got {self.warmup_fraction}.")


def apply_schedule(schedule, trainer_config, optimizer_config, num_train_examples):
    """Returns `(trainer_config, optimizer_config)` with the schedule's steps filled in."""
    if schedule.epochs <= 0:
        if schedule.final_fit:
            trainer_config = dataclasses.replace(trainer_config, eval_interval=0,
                                                 eval_at_end=False)
        return trainer_config, optimizer_config
    if num_train_examples < 1:
        raise ValueError("The training split is empty.")
    examples_per_step = trainer_config.global_batch_size * trainer_config.gradient_accumulation_steps
    steps_per_epoch = max(1, math.ceil(num_train_examples / examples_per_step))
    train_steps = max(1, round(schedule.epochs * steps_per_epoch))
    eval_interval = max(1, steps_per_epoch // schedule.evals_per_epoch)
    trainer_config = dataclasses.replace(
        trainer_config, train_steps=train_steps, eval_interval=eval_interval,
        checkpoint_interval=(eval_interval if trainer_config.checkpoint_interval
                             else trainer_config.checkpoint_interval))
    if schedule.final_fit:  # checkpoints as often, for a resume; no evaluation
        trainer_config = dataclasses.replace(trainer_config, eval_interval=0,
                                             eval_at_end=False)
    if schedule.warmup_fraction is not None:
        optimizer_config = dataclasses.replace(
            optimizer_config, warmup_steps=int(round(schedule.warmup_fraction * train_steps)))
    logging.info("Schedule: %g epochs of %d steps = %d steps, %s, warm-up %d steps.",
                 schedule.epochs, steps_per_epoch, train_steps,
                 "final fit: no evaluation" if schedule.final_fit
                 else f"evaluation every {eval_interval} steps", optimizer_config.warmup_steps)
    return trainer_config, optimizer_config
