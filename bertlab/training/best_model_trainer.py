"""`BestModelTrainer`: the runner's `Trainer`, keeping the weights of its best validation
evaluation, so that a run exports its best model, not its last one.

Example:
>>> trainer = BestModelTrainer(task, trainer_config, optimizer_config, "runs/sst2",
...                            metric="accuracy")
>>> trainer.train()
>>> trainer.restore_best()["step"]
6312
"""

import json
import os
import shutil

import tensorflow as tf
from absl import logging

from bertlab.storage.leftovers import remove_stale, temporary_prefix
from bertlab.training.summary import write_json_atomic
from bertlab.training.trainer import Trainer

BEST_DIR = "best"
BEST_FILE = "best.json"
TEMP_PREFIX = BEST_DIR + ".tmp-"
_WEIGHTS_PREFIX = "model"


class BestModelTrainer(Trainer):
    """A `Trainer` that keeps the weights of its best validation evaluation.

    Args:
      task, config, optimizer_config, model_dir, strategy: as for `Trainer`.
      metric: the validation result that decides (e.g. "accuracy",
        "entity_f1"); higher is better. None: keep nothing (the run exports
        its last weights, or their average with `weight_average_decay`).

    After every full evaluation of the "validation" split, if `metric` beats
    the best so far, the model's weights are written to `model_dir/best/`
    (a new directory renamed into place, so a kill never leaves a partial
    one) with `best.json` (`step` and the evaluation). A resumed run reads the
    best so far from there; it first removes the `best.tmp-*` directories a
    killed save left (only stale ones: `bertlab.storage.leftovers`).
    """

    def __init__(self, task, config, optimizer_config, model_dir, strategy=None,
                 metric=None):
        super().__init__(task, config, optimizer_config, model_dir, strategy)
        self.metric = metric
        self.best_dir = os.path.join(model_dir, BEST_DIR)
        self._weights = tf.train.Checkpoint(model=self.model)
        self._recover_interrupted_swap()
        self.best = self._read_best()

    def _recover_interrupted_swap(self):
        if self.is_chief:
            remove_stale(self.model_dir, TEMP_PREFIX)
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
            if split == "validation" and full and self.metric is not None:
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
        tmp = os.path.join(self.model_dir, temporary_prefix(TEMP_PREFIX) + str(step))
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
