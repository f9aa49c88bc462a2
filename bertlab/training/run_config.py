"""`run_config.json`: the settings a run trained with, and the check that a resume keeps them.

A run's checkpoints only make sense with the settings that made them: the
runner resumes by skipping `step * gradient_accumulation_steps` batches of a
deterministic data order and continues a learning-rate schedule that decays to
`train_steps`. Resuming with another batch size, accumulation, seed, data files,
schedule or model silently trains on a different data position and schedule
(or fails later on mismatched variable shapes). So before a run resumes, the
settings saved in `model_dir/run_config.json` are compared with the new ones and
a difference that changes the model, the data order or the schedule stops the
run with a `RunConfigMismatchError` naming each setting (unless the caller
accepts the change: the apps' `--allow_config_change`).

Settings that change none of these may differ (`HARMLESS_TRAINER_KEYS`,
`HARMLESS_TASK_KEYS`): how often to log, evaluate or checkpoint, the evaluation
batch size, the export's dtype, XLA compilation. Every other setting counts,
including those of tasks added later: a new setting is checked until it is
declared harmless here.

The file is written only after the checkpoint was restored (`write_run_config`
after `Trainer.restore`): a restore that fails leaves the old record, which
still describes the checkpoints. An accepted change is recorded in the new file
under `"accepted_changes"` (step, setting, old and new value).

Example:
>>> run_config = run_config_dict(task, trainer_config, optimizer_config)
>>> check_resume(model_dir, run_config)          # raises on a change that matters
>>> start = trainer.restore()
>>> write_run_config(model_dir, run_config, start)
"""

import dataclasses
import json
import os

import tensorflow as tf
from absl import logging

from bertlab.training.summary import write_json_atomic

RUN_CONFIG_FILE = "run_config.json"

# Trainer settings that change neither the model, the data order nor the schedule.
HARMLESS_TRAINER_KEYS = frozenset({
    "steps_per_loop", "checkpoint_interval", "keep_checkpoints", "log_interval",
    "eval_interval", "eval_steps", "eval_at_end", "jit_compile", "xla_fusion"})
# Task settings (by their last name, in any section) used only to evaluate or export.
HARMLESS_TASK_KEYS = frozenset({
    "eval_batch_size", "export_dtype_policy", "report", "max_validation_examples"})
_RECORD_KEYS = ("accepted_changes",)
_ABSENT = object()


class RunConfigMismatchError(ValueError):
    """A resume whose settings differ from the run's in ways that change its training.

    Attributes:
      changes: `[(setting, saved value, new value), ...]`, dotted setting names.
    """

    def __init__(self, model_dir, changes):
        self.changes = changes
        lines = "\n".join(f"  {key}: {_show(old)} -> {_show(new)}" for key, old, new in changes)
        super().__init__(
            f"{model_dir} holds a run trained with other settings; resuming it with these "
            f"would change the model, the data order or the schedule:\n{lines}\n"
            "Rerun with the saved settings, use another --model_dir, or pass "
            "--allow_config_change to resume anyway.")


def _show(value):
    return "(absent)" if value is _ABSENT else json.dumps(value)


def run_config_dict(task, trainer_config, optimizer_config):
    """The JSON-able record of a run: `trainer`, `optimizer` (their dataclasses), `task`
    (the class name) and, when the task has a dataclass `config`, `task_config`."""
    run_config = {
        "trainer": dataclasses.asdict(trainer_config),
        "optimizer": dataclasses.asdict(optimizer_config),
        "task": type(task).__name__,
    }
    task_config = getattr(task, "config", None)
    if dataclasses.is_dataclass(task_config) and not isinstance(task_config, type):
        run_config["task_config"] = dataclasses.asdict(task_config)
    # Through JSON once, so that it compares equal to what a later run reads back.
    return json.loads(json.dumps(run_config, default=str))


def _flatten(value, prefix=""):
    if isinstance(value, dict) and value:
        flat = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: value}


def _harmless(key):
    section, _, rest = key.partition(".")
    if section == "trainer":
        return rest in HARMLESS_TRAINER_KEYS
    if section == "task_config":
        return key.rsplit(".", 1)[-1] in HARMLESS_TASK_KEYS
    return section in _RECORD_KEYS


def config_changes(saved, new):
    """The settings that differ between two run configs and change the training.

    Returns:
      `[(dotted setting, saved value, new value), ...]`, sorted by setting; a
      value missing on one side is shown as "(absent)".
    """
    old_flat, new_flat = _flatten(saved), _flatten(new)
    changes = []
    for key in sorted(set(old_flat) | set(new_flat)):
        old, value = old_flat.get(key, _ABSENT), new_flat.get(key, _ABSENT)
        if old != value and not _harmless(key):
            changes.append((key, old, value))
    return changes


def read_run_config(model_dir):
    """The saved run config of `model_dir`, or None if there is none."""
    path = os.path.join(model_dir, RUN_CONFIG_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def has_training_state(model_dir):
    """Whether `model_dir` holds something a run would resume from: a checkpoint, or
    the best weights of `BestModelTrainer` (`best/`)."""
    return (tf.train.latest_checkpoint(model_dir) is not None
            or tf.io.gfile.isdir(os.path.join(model_dir, "best")))


def check_resume(model_dir, run_config, allow_change=False, log_fn=None):
    """Compares `run_config` with the one saved in `model_dir` before a run resumes.

    Nothing is compared when `model_dir` holds no checkpoint and no best weights
    (a run that died before its first save starts afresh) or no saved config.

    Args:
      model_dir: the run's directory.
      run_config: the new run's `run_config_dict`.
      allow_change: accept the changes (they are logged and returned).
      log_fn: called with a line per accepted change (default: absl's warning).

    Returns:
      The accepted changes (`config_changes`), empty when nothing differs.

    Raises:
      RunConfigMismatchError: a difference that matters, without `allow_change`.
    """
    if not has_training_state(model_dir):
        return []
    saved = read_run_config(model_dir)
    if saved is None:
        return []
    changes = config_changes(saved, run_config)
    if changes and not allow_change:
        raise RunConfigMismatchError(model_dir, changes)
    if changes:
        log_fn = log_fn or logging.warning
        for key, old, new in changes:
            log_fn(f"Resuming with a changed setting (--allow_config_change): {key}: "
                   f"{_show(old)} -> {_show(new)}")
    return changes


def write_run_config(model_dir, run_config, step=0, accepted_changes=()):
    """Writes `model_dir/run_config.json` (atomically): `run_config`, plus the changes
    accepted so far (kept from the saved file when the run resumes, `step` > 0) and
    `accepted_changes` made at `step`, each as `{"step", "setting", "old", "new"}`."""
    saved = (read_run_config(model_dir) or {}) if step > 0 else {}
    history = list(saved.get("accepted_changes", []))
    history += [{"step": step, "setting": key,
                 "old": None if old is _ABSENT else old,
                 "new": None if new is _ABSENT else new}
                for key, old, new in accepted_changes]
    record = dict(run_config)
    if history:
        record["accepted_changes"] = history
    write_json_atomic(os.path.join(model_dir, RUN_CONFIG_FILE), record)
