"""Choosing which weights of a finished run to export, by a metric computed outside the graph.

Translation and summarization are judged by BLEU/ROUGE of decoded text, which
the training loop cannot compute. After training, `select_checkpoint` scores
the latest checkpoints the runner kept (and optionally their element-wise
average, Vaswani et al., 2017) with an evaluation function and leaves the best
weights in the model, ready to export.

Example:
>>> name, results = select_checkpoint(model, "runs/translation",
...                                   CheckpointSelectionConfig(num_checkpoints=3, average_last=3,
...                                                             metric="bleu"),
...                                   evaluate_fn=lambda: {"bleu": decode_and_score(model)})
>>> name
'average(ckpt-2600..ckpt-3000)'
"""

import dataclasses
import os
import typing

import numpy as np
import tensorflow as tf


@dataclasses.dataclass
class CheckpointSelectionConfig:
    """Which weights of a run get exported.

    Fields:
      num_checkpoints: score the latest N checkpoints of the run (keep at least
        that many: `trainer.keep_checkpoints`).
      average_last: also score the element-wise average of the latest N
        checkpoints' weights (0 = no averaging).
      metric: the result key to maximize ("bleu", "rougeL", ...).
      batch_size: texts per generation batch.
      max_examples: validation examples used for selection (None = all).
    """

    num_checkpoints: int = 1
    average_last: int = 0
    metric: str = "bleu"
    batch_size: int = 64
    max_examples: typing.Optional[int] = None

    def __post_init__(self):
        if self.num_checkpoints < 1:
            raise ValueError(f"`num_checkpoints` must be positive, got {self.num_checkpoints}.")
        if self.average_last < 0 or self.average_last == 1:
            raise ValueError(f"`average_last` must be 0 or >= 2, got {self.average_last}.")
        if self.batch_size < 1:
            raise ValueError(f"`batch_size` must be positive, got {self.batch_size}.")
        if self.max_examples is not None and self.max_examples < 1:
            raise ValueError(f"`max_examples` must be positive, got {self.max_examples}.")


def run_checkpoints(model_dir):
    """The run's complete checkpoints, oldest first (what the runner kept)."""
    state = tf.train.get_checkpoint_state(model_dir)
    if state is None:
        return []
    return [p for p in state.all_model_checkpoint_paths if tf.io.gfile.exists(p + ".index")]


def checkpoint_step(path):
    """The step of a runner checkpoint path (`.../ckpt-1200` -> 1200)."""
    try:
        return int(path.rsplit("-", 1)[-1])
    except ValueError:
        return None


def restore_model_weights(model, checkpoint_path):
    """Loads only the model's weights from a runner checkpoint (no optimizer)."""
    tf.train.Checkpoint(model=model).restore(checkpoint_path).expect_partial()


def average_checkpoint_weights(model, checkpoint_paths):
    """Sets `model`'s weights to the mean of the checkpoints' (Vaswani et al., 2017)."""
    if not checkpoint_paths:
        raise ValueError("No checkpoints to average.")
    total = None
    for path in checkpoint_paths:
        restore_model_weights(model, path)
        weights = [np.asarray(w, np.float64) for w in model.get_weights()]
        total = weights if total is None else [t + w for t, w in zip(total, weights)]
    model.set_weights([t / len(checkpoint_paths) for t in total])


def select_checkpoint(model, model_dir, config, evaluate_fn, log_fn=print):
    """Scores checkpoints of the run with `evaluate_fn` and keeps the best in `model`.

    Args:
      model: the run's model (its weights are replaced).
      model_dir: the runner's model directory.
      config: `CheckpointSelectionConfig`.
      evaluate_fn: `() -> dict of metrics` for the model's current weights;
        must contain `config.metric`.
      log_fn: called with a line per candidate.

    Returns:
      `(best_name, {name: metrics})`: names are checkpoint basenames
      (`ckpt-3000`) or `average(ckpt-2600..ckpt-3000)`. The model is left
      holding the best candidate's weights.
    """
    paths = run_checkpoints(model_dir)
    if not paths:
        raise ValueError(f"No checkpoints in {model_dir} to select from.")
    candidates = [(os.path.basename(p), [p]) for p in paths[-config.num_checkpoints:]]
    if config.average_last:
        if len(paths) < config.average_last:
            log_fn(f"Only {len(paths)} checkpoint(s) kept: averaging those.")
        averaged = paths[-config.average_last:]
        if len(averaged) > 1:
            name = (f"average({os.path.basename(averaged[0])}.."
                    f"{os.path.basename(averaged[-1])})")
            candidates.append((name, averaged))
    results, best_name, best_value = {}, None, None
    for name, group in candidates:
        if len(group) == 1:
            restore_model_weights(model, group[0])
        else:
            average_checkpoint_weights(model, group)
        metrics = evaluate_fn()
        if config.metric not in metrics:
            raise ValueError(f"Selection metric {config.metric!r} is not among the "
                             f"evaluation results {sorted(metrics)}.")
        results[name] = metrics
        log_fn(f"{name}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                      for k, v in metrics.items()))
        if best_value is None or metrics[config.metric] > best_value:
            best_name, best_value = name, metrics[config.metric]
    group = dict(candidates)[best_name]
    if len(group) == 1:
        restore_model_weights(model, group[0])
    else:
        average_checkpoint_weights(model, group)
    return best_name, results
