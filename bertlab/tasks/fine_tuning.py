"""Fine-tuning runs: epochs -> steps, keeping the best validation checkpoint, exporting.

What the fine-tuning apps (`apps/sentiment`, `apps/ner`) share, on top of the
one training runner (`bertlab.training.Trainer`, whose loop this reuses):

- `ScheduleConfig`: a run measured in epochs of the task's training data, with
  an evaluation on the validation split every epoch and a warm-up that is a
  fraction of the run; `apply_schedule` turns it into the runner's
  `train_steps`, `eval_interval` and `warmup_steps`.
- `BestModelTrainer`: the runner's `Trainer`, which after every validation
  evaluation also saves the model's weights when the task's `main_metric`
  improved (`model_dir/best/`, replaced atomically), so the export is the best
  epoch's model, not the last one.
- `fine_tune`: trains (resuming from `model_dir`), restores the best weights,
  exports a new SavedModel version into `export_dir` (atomic, versioned, with
  TF Serving warm-up requests and an op check, `bertlab.export.export_hooks`),
  rewrites `models.config` beside `export_dir`, and writes
  `model_dir/summary.json` with the best evaluation and the export.

Example:
>>> schedule = ScheduleConfig(epochs=3, warmup_fraction=0.1)
>>> trainer_config, optimizer_config = apply_schedule(
...     schedule, trainer_config, optimizer_config, task.num_examples("train"))
>>> summary = fine_tune(task, trainer_config, optimizer_config, "runs/sst2",
...                     export_dir="saved_models/sentiment")
>>> summary["export"]["path"]
'saved_models/sentiment/1'
"""

import dataclasses
import json
import math
import os
import shutil

import tensorflow as tf
from absl import logging

from bertlab.export import export_new_version
from bertlab.training.runner import RUN_CONFIG_FILE
from bertlab.training.summary import SUMMARY_FILE, write_json_atomic
from bertlab.training.trainer import Trainer

BEST_DIR = "best"
BEST_FILE = "best.json"
_WEIGHTS_PREFIX = "model"


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
    """

    epochs: float = 0.0
    evals_per_epoch: int = 1
    warmup_fraction: float = 0.1

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
    if schedule.warmup_fraction is not None:
        optimizer_config = dataclasses.replace(
            optimizer_config, warmup_steps=int(round(schedule.warmup_fraction * train_steps)))
    logging.info("Schedule: %g epochs of %d steps = %d steps, evaluation every %d steps, "
                 "warm-up %d steps.", schedule.epochs, steps_per_epoch, train_steps,
                 eval_interval, optimizer_config.warmup_steps)
    return trainer_config, optimizer_config


class BestModelTrainer(Trainer):
    """A `Trainer` that keeps the weights of its best validation evaluation.

    Args:
      task, config, optimizer_config, model_dir, strategy: as for `Trainer`.
      metric: the validation result that decides (e.g. "accuracy",
        "entity_f1"); higher is better.

    After every full evaluation of the "validation" split, if `metric` beats
    the best so far, the model's weights are written to `model_dir/best/`
    (a new directory renamed into place, so a kill never leaves a partial
    one) with `best.json` (`step` and the evaluation). A resumed run reads the
    best so far from there.
    """

    def __init__(self, task, config, optimizer_config, model_dir, strategy=None,
                 metric="accuracy"):
        super().__init__(task, config, optimizer_config, model_dir, strategy)
        self.metric = metric
        self.best_dir = os.path.join(model_dir, BEST_DIR)
        self._weights = tf.train.Checkpoint(model=self.model)
        self._recover_interrupted_swap()
        self.best = self._read_best()

    def _recover_interrupted_swap(self):
        old = self.best_dir + ".old"
        if self.is_chief and os.path.isdir(old):
            if os.path.isdir(self.best_dir):
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(old, self.best_dir)

    def _read_best(self):
        path = os.path.join(self.best_dir, BEST_FILE)
        if not os.path.isfile(path):
            return None
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    def evaluate(self, split="validation", steps=None):
        with self.averaged_weights():  # the weights evaluated are the weights saved
            results = super().evaluate(split, steps)
            full = (steps if steps is not None else self.config.eval_steps) is None
            if split == "validation" and full:
                self._update_best(results)
        return results

    def _update_best(self, results):
        if self.metric not in results:
            raise ValueError(f"The validation results {sorted(results)} have no "
                             f"{self.metric!r} to pick the best checkpoint by.")
        value = float(results[self.metric])
        if self.best is not None and not value > self.best["value"]:
            return
        step = int(self.global_step.numpy())
        self.best = {"step": step, "metric": self.metric, "value": value, "results": results}
        if not self.is_chief:
            return
        tmp = f"{self.best_dir}.tmp-{step}"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        self._weights.write(os.path.join(tmp, _WEIGHTS_PREFIX))
        write_json_atomic(os.path.join(tmp, BEST_FILE), self.best)
        old = self.best_dir + ".old"
        if os.path.isdir(self.best_dir):
            os.rename(self.best_dir, old)
        os.rename(tmp, self.best_dir)
        shutil.rmtree(old, ignore_errors=True)
        logging.info("New best %s %.4f at step %d (saved to %s).", self.metric, value, step,
                     self.best_dir)

    def restore_best(self):
        """Loads the best weights into the model; returns the best record (or None)."""
        if self.best is None or not os.path.isdir(self.best_dir):
            return None
        self._weights.read(os.path.join(self.best_dir, _WEIGHTS_PREFIX)).assert_consumed()
        if self.weight_average is not None:
            self.weight_average.reset()  # the best weights are already the averaged ones
        logging.info("Restored the best weights (step %d, %s %.4f).", self.best["step"],
                     self.metric, self.best["value"])
        return self.best


def fine_tune(task, trainer_config, optimizer_config, model_dir, export_dir=None,
              strategy=None, metadata=None):
    """Trains `task`, keeps the best validation checkpoint, exports it.

    Args:
      task: a task with `main_metric` and `export(model, path, metadata)`
        (`SentenceClassificationTask`, `TokenClassificationTask`).
      trainer_config, optimizer_config: the runner's configs (see
        `apply_schedule`).
      model_dir: checkpoints, `best/`, TensorBoard logs, `summary.json`.
      export_dir: base directory of the versioned SavedModels (None: no
        export).
      strategy: a `tf.distribute.Strategy` (None: one device).
      metadata: extra JSON-able facts written into the export's metadata.

    Returns:
      The summary dict (the runner's, plus `best` and `export`), also written
      to `model_dir/summary.json`.
    """
    trainer = BestModelTrainer(task, trainer_config, optimizer_config, model_dir, strategy,
                               metric=task.main_metric)
    try:
        if trainer.is_chief:
            write_json_atomic(os.path.join(model_dir, RUN_CONFIG_FILE), {
                "trainer": dataclasses.asdict(trainer_config),
                "optimizer": dataclasses.asdict(optimizer_config),
                "task": type(task).__name__,
            })
        summary = trainer.train()
        best = trainer.restore_best()
        if best is None and trainer.weight_average is not None:
            trainer.weight_average.swap()  # no best checkpoint: export the averaged weights
        summary["best"] = best
        summary["export"] = None
        if export_dir and trainer.is_chief:
            facts = {"validation": best["results"] if best else summary.get("final_eval"),
                     "step": best["step"] if best else summary["steps"],
                     **(metadata or {})}
            from bertlab.export.export_hooks import prepare_for_serving, update_models_config

            def write(tmp):
                task.export(trainer.model, tmp, facts)
                # TF Serving warm-up requests and the check that every custom op is
                # one TF Serving's tensorflow-text has, before the version appears.
                prepare_for_serving(tmp)

            version, path = export_new_version(export_dir, write)
            summary["export"] = {"version": version, "path": path,
                                 "models_config": update_models_config(export_dir)}
            logging.info("Exported version %d to %s", version, path)
        if trainer.is_chief:
            write_json_atomic(os.path.join(model_dir, SUMMARY_FILE), summary)
        return summary
    finally:
        trainer.close()
