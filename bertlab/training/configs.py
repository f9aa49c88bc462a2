"""Settings of the training runner and its optimizer, as strict dataclasses.

`bertlab.config.load_config` reads them from YAML (see `configs/README.md`);
invalid values raise a `ValueError` that names the field and the value.

Example:
>>> from bertlab.config import load_config
>>> cfg = load_config(TrainerConfig, None,
...                   {"train_steps": "100", "mixed_precision": "mixed_bfloat16"})
>>> cfg.train_steps, cfg.mixed_precision
(100, 'mixed_bfloat16')
"""

import dataclasses
import re
import typing

MIXED_PRECISION_POLICIES = ("mixed_bfloat16", "mixed_float16")
DECAY_SCHEDULES = ("linear", "polynomial")

# Matched (`re.search`) against each variable's path ("encoder/layer_norm/gamma"):
# biases and every LayerNormalization weight get no weight decay, as in BERT.
DEFAULT_WEIGHT_DECAY_EXCLUDE = ["bias$", "(^|/)gamma$", "(^|/)beta$", "layer_norm", "LayerNorm"]


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")


def _check_float(name, value, minimum=None, maximum=None, strict_min=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"`{name}` must be a number, got {value!r}.")
    if minimum is not None and (value < minimum or (strict_min and value == minimum)):
        op = ">" if strict_min else ">="
        raise ValueError(f"`{name}` must be {op} {minimum}, got {value!r}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"`{name}` must be <= {maximum}, got {value!r}.")


@dataclasses.dataclass
class TrainerConfig:
    """What the runner does, independent of the task.

    Attributes:
        train_steps: total optimizer steps of the run (a resumed run continues
            up to this number).
        global_batch_size: examples per micro-batch over all replicas; the
            task batches its data with
            `input_context.get_per_replica_batch_size(global_batch_size)`.
            An optimizer step sees `global_batch_size * gradient_accumulation_steps`.
        steps_per_loop: steps run inside one `tf.function` call.
        checkpoint_interval: save a checkpoint every this many steps (0: only
            at the end of the run).
        keep_checkpoints: how many recent checkpoints to keep.
        log_interval: write TensorBoard scalars and a progress line every this
            many steps.
        eval_interval: evaluate on the validation split every this many steps
            (0: never during training).
        eval_steps: batches per evaluation (None: the whole validation split).
        eval_at_end: evaluate once more when training ends and put the
            results in `summary.json`.
        mixed_precision: None (float32), "mixed_bfloat16" (CPU/TPU) or
            "mixed_float16" (GPU; adds dynamic loss scaling).
        jit_compile: compile the forward and backward pass with XLA.
        xla_fusion: let XLA auto-clustering fuse the element-wise ops only
            (LayerNorm, GELU, dropout, softmax; matmuls stay with oneDNN, which
            keeps bfloat16 fast on CPU). See `bertlab.layers.xla_fusion`:
            has to be on before TensorFlow sets up its devices (the app
            scripts restart themselves for it). Not together with `jit_compile`.
        gradient_accumulation_steps: micro-batches summed into one optimizer
            step (1: no accumulation).
        seed: seeds Python, NumPy and TensorFlow before the model is built.
        weight_average_decay: > 0: keep an exponential moving average of the
            trainable weights with this decay (e.g. 0.999: ~1,000 steps, less
            early in the run; see `bertlab.training.weight_average`) and
            evaluate, pick the best checkpoint and export with it; 0: off.
    """

    train_steps: int = 1000
    global_batch_size: int = 32
    steps_per_loop: int = 100
    checkpoint_interval: int = 1000
    keep_checkpoints: int = 3
    log_interval: int = 100
    eval_interval: int = 0
    eval_steps: typing.Optional[int] = None
    eval_at_end: bool = True
    mixed_precision: typing.Optional[str] = None
    jit_compile: bool = False
    xla_fusion: bool = False
    gradient_accumulation_steps: int = 1
    seed: int = 0
    weight_average_decay: float = 0.0

    def __post_init__(self):
        _check_int("train_steps", self.train_steps, 1)
        if not 0.0 <= self.weight_average_decay < 1.0:
            raise ValueError("`weight_average_decay` must be in [0, 1) (0: no averaging), got "
                             f"{self.weight_average_decay}.")
        _check_int("global_batch_size", self.global_batch_size, 1)
        _check_int("steps_per_loop", self.steps_per_loop, 1)
        _check_int("checkpoint_interval", self.checkpoint_interval, 0)
        _check_int("keep_checkpoints", self.keep_checkpoints, 1)
        _check_int("log_interval", self.log_interval, 1)
        _check_int("eval_interval", self.eval_interval, 0)
        if self.eval_steps is not None:
            _check_int("eval_steps", self.eval_steps, 1)
        _check_int("gradient_accumulation_steps", self.gradient_accumulation_steps, 1)
        _check_int("seed", self.seed, 0)
        if self.jit_compile and self.xla_fusion:
            raise ValueError("`jit_compile` compiles the whole step with XLA and `xla_fusion` "
                             "only its element-wise ops: set one of them, not both.")
        if self.mixed_precision in ("", "float32", "none", "None"):
            self.mixed_precision = None
        if (self.mixed_precision is not None
                and self.mixed_precision not in MIXED_PRECISION_POLICIES):
            raise ValueError(
                f"`mixed_precision` must be one of {', '.join(MIXED_PRECISION_POLICIES)} or "
                f"None, got {self.mixed_precision!r}.")


@dataclasses.dataclass
class OptimizerConfig:
    """AdamW with linear warm-up, then linear or polynomial decay.

    Attributes:
        learning_rate: peak learning rate, reached at the end of warm-up.
        warmup_steps: optimizer steps of linear warm-up from 0.
        decay: "linear" or "polynomial" (with `power`), from the peak at the
            end of warm-up to `end_learning_rate` at `train_steps`.
        power: exponent of the polynomial decay (1.0 is linear).
        end_learning_rate: learning rate at and after `train_steps`.
        weight_decay: decoupled weight decay (AdamW), not applied to the
            variables matched by `weight_decay_exclude`.
        weight_decay_exclude: regular expressions searched in variable paths.
        beta_1, beta_2, epsilon: Adam's.
        clipnorm: clip the gradient (summed over replicas and micro-batches)
            to this global norm; None or 0 disables clipping.
        layer_decay: layer-wise learning-rate decay for fine-tuning (Clark et
            al., 2020): with L Transformer layers, layer i (0-based) learns at
            `learning_rate * layer_decay ** (L - i)`, the embeddings at
            `layer_decay ** (L + 1)` times it, everything else (task heads,
            pooler) at the full rate. 1.0 (default) disables it.
    """

    learning_rate: float = 1e-4
    warmup_steps: int = 0
    decay: str = "linear"
    power: float = 1.0
    end_learning_rate: float = 0.0
    weight_decay: float = 0.01
    weight_decay_exclude: typing.List[str] = dataclasses.field(
        default_factory=lambda: list(DEFAULT_WEIGHT_DECAY_EXCLUDE))
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-6
    clipnorm: typing.Optional[float] = 1.0
    layer_decay: float = 1.0

    def __post_init__(self):
        _check_float("learning_rate", self.learning_rate, 0.0, strict_min=True)
        _check_float("layer_decay", self.layer_decay, 0.0, 1.0, strict_min=True)
        _check_int("warmup_steps", self.warmup_steps, 0)
        if self.decay not in DECAY_SCHEDULES:
            raise ValueError(
                f"`decay` must be one of {', '.join(DECAY_SCHEDULES)}, got {self.decay!r}.")
        _check_float("power", self.power, 0.0, strict_min=True)
        _check_float("end_learning_rate", self.end_learning_rate, 0.0)
        if self.end_learning_rate > self.learning_rate:
            raise ValueError(
                f"`end_learning_rate` ({self.end_learning_rate!r}) must not exceed "
                f"`learning_rate` ({self.learning_rate!r}).")
        _check_float("weight_decay", self.weight_decay, 0.0)
        if not isinstance(self.weight_decay_exclude, (list, tuple)) or not all(
                isinstance(p, str) and p for p in self.weight_decay_exclude):
            raise ValueError(
                "`weight_decay_exclude` must be a list of non-empty regular expressions, "
                f"got {self.weight_decay_exclude!r}.")
        for pattern in self.weight_decay_exclude:
            try:
                re.compile(pattern)
            except re.error as e:
                raise ValueError(
                    f"`weight_decay_exclude` holds an invalid regular expression {pattern!r}: {e}."
                ) from None
        _check_float("beta_1", self.beta_1, 0.0, 1.0)
        _check_float("beta_2", self.beta_2, 0.0, 1.0)
        _check_float("epsilon", self.epsilon, 0.0, strict_min=True)
        if self.clipnorm is not None:
            _check_float("clipnorm", self.clipnorm, 0.0)
            if self.clipnorm == 0:
                self.clipnorm = None
