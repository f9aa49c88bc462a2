"""The optimizer of every bertlab run: AdamW with warm-up and decay.

- `WarmupDecaySchedule`: linear warm-up from 0 to the peak learning rate, then
  linear or polynomial decay to `end_learning_rate` at `decay_steps`
  (serializable: `get_config`/`from_config`).
- `build_optimizer`: Keras 3 `AdamW` with that schedule, gradient clipping by
  global norm, no weight decay on biases and LayerNorm weights (matched by
  regular expressions on variable paths and passed to
  `exclude_from_weight_decay`), optional layer-wise learning-rate decay
  (`layer_learning_rate_multipliers`), wrapped in a `LossScaleOptimizer` for
  `mixed_float16`. (`mixed_bfloat16` has float32's range: no loss scaling.)

The optimizer is built for `bertlab.training.Trainer`, whose step sums the
gradients over replicas itself (so that clipping and the loss-scale finiteness
check see the global gradient); `apply` therefore expects gradients that are
already summed over replicas. Gradient accumulation is done by the Trainer too
(micro-batches summed before one `apply`), not by Keras' optimizer option.

Example:
>>> schedule = WarmupDecaySchedule(1e-3, warmup_steps=10, decay_steps=100)
>>> [round(float(schedule(s)), 6) for s in (0, 5, 10, 55, 100, 200)]
[0.0, 0.0005, 0.001, 0.0005, 0.0, 0.0]
"""

import re

import keras
import tensorflow as tf

from bertlab.training.configs import OptimizerConfig


@keras.saving.register_keras_serializable(package="bertlab")
class WarmupDecaySchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up, then linear or polynomial decay.

    For optimizer step `s` (the number of updates already applied):
    - `s < warmup_steps`: `peak * s / warmup_steps`;
    - then: `end + (peak - end) * (1 - (s - warmup_steps) / (decay_steps - warmup_steps)) ** power`,
      reaching `end_learning_rate` at `s = decay_steps` and staying there.

    Args:
        peak_learning_rate: the rate at the end of warm-up.
        warmup_steps: steps of linear warm-up (0: start at the peak).
        decay_steps: the step at which `end_learning_rate` is reached (usually
            the run's `train_steps`); must be >= `warmup_steps`.
        end_learning_rate: the final rate.
        power: 1.0 for linear decay.

    Call: `schedule(step)` with a scalar integer step -> float32 scalar.
    """

    def __init__(self, peak_learning_rate, warmup_steps, decay_steps, end_learning_rate=0.0,
                 power=1.0, name=None):
        if peak_learning_rate <= 0:
            raise ValueError(f"`peak_learning_rate` must be > 0, got {peak_learning_rate!r}.")
        if warmup_steps < 0:
            raise ValueError(f"`warmup_steps` must be >= 0, got {warmup_steps!r}.")
        if decay_steps < warmup_steps:
            raise ValueError(
                f"`decay_steps` ({decay_steps!r}) must be >= `warmup_steps` ({warmup_steps!r}).")
        if power <= 0:
            raise ValueError(f"`power` must be > 0, got {power!r}.")
        self.peak_learning_rate = float(peak_learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.decay_steps = int(decay_steps)
        self.end_learning_rate = float(end_learning_rate)
        self.power = float(power)
        self.name = name

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        peak = tf.constant(self.peak_learning_rate, tf.float32)
        end = tf.constant(self.end_learning_rate, tf.float32)
        warmup = float(self.warmup_steps)
        decay_length = float(self.decay_steps - self.warmup_steps)
        if decay_length > 0:
            progress = tf.clip_by_value((step - warmup) / decay_length, 0.0, 1.0)
            decayed = end + (peak - end) * tf.pow(1.0 - progress, self.power)
        else:
            decayed = tf.where(step < warmup, peak, end)
        if self.warmup_steps > 0:
            warmed = peak * step / warmup
            return tf.where(step < warmup, warmed, decayed)
        return decayed

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "warmup_steps": self.warmup_steps,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "name": self.name,
        }


def build_schedule(config, train_steps):
    """The `WarmupDecaySchedule` of an `OptimizerConfig` over `train_steps` steps."""
    if config.warmup_steps > train_steps:
        raise ValueError(
            f"`warmup_steps` ({config.warmup_steps}) must not exceed "
            f"`train_steps` ({train_steps}).")
    return WarmupDecaySchedule(
        peak_learning_rate=config.learning_rate,
        warmup_steps=config.warmup_steps,
        decay_steps=train_steps,
        end_learning_rate=config.end_learning_rate,
        power=config.power if config.decay == "polynomial" else 1.0)


def _check_keras_hook():
    if not callable(getattr(keras.optimizers.AdamW, "_all_reduce_sum_gradients", None)):
        raise RuntimeError(
            "This Keras version has no `Optimizer._all_reduce_sum_gradients`; bertlab's "
            "optimizer relies on it to receive gradients already summed over replicas. "
            "Use the Keras version pinned in setup.py.")


@keras.saving.register_keras_serializable(package="bertlab")
class ReplicaSummedAdamW(keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` whose `apply` gets gradients already summed over replicas.

    Keras' TensorFlow optimizer sums gradients over replicas after clipping
    them, so clipping (and the loss-scale finiteness check) would see one
    replica's partial gradient. The Trainer sums them first; this optimizer
    then skips its own sum. With one replica it is exactly `AdamW`.
    """

    learning_rate_multipliers = None  # per variable index (layer-wise decay), or None

    def _all_reduce_sum_gradients(self, grads_and_vars):
        return list(grads_and_vars)

    def set_learning_rate_multipliers(self, variables, multipliers):
        """Scales the learning rate of each of `variables` (built ones) by the
        matching multiplier in its updates (not in the weight decay)."""
        by_index = [1.0] * len(self._trainable_variables)
        for variable, multiplier in zip(variables, multipliers):
            by_index[self._get_variable_index(variable)] = float(multiplier)
        self.learning_rate_multipliers = by_index

    def update_step(self, gradient, variable, learning_rate):
        """Keras' Adam update in TensorFlow's fused `ResourceApplyAdam` kernel.

        The same arithmetic as `keras.optimizers.Adam.update_step`
        (`m += (g - m)(1 - b1)`, `v += (g^2 - v)(1 - b2)`,
        `w -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)`), in one
        pass over the three tensors instead of about ten element-wise ops, each
        reading and writing whole tensors. Sparse gradients and AMSGrad take
        Keras' path.
        """
        index = self._get_variable_index(variable)
        if self.learning_rate_multipliers is not None:
            learning_rate = learning_rate * self.learning_rate_multipliers[index]
        if self.amsgrad or isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        m, v = self._momentums[index], self._velocities[index]
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        return tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable), m=_handle(m), v=_handle(v),
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype),
            use_locking=False)


def _handle(variable):
    """The resource handle of a Keras or TensorFlow variable (under a strategy's
    `update`, of the current device's component)."""
    if isinstance(variable, keras.Variable):
        variable = variable.value
    return variable.handle


def variable_path(variable):
    """A Keras variable's path (`layer/.../name`), else a TensorFlow variable's name."""
    return getattr(variable, "path", None) or variable.name


def weight_decay_excluded(variables, patterns):
    """The variables whose path (or name) matches one of the regular expressions."""
    compiled = [re.compile(p) for p in patterns]
    excluded = []
    for variable in variables:
        path = variable_path(variable)
        if any(p.search(path) for p in compiled):
            excluded.append(variable)
    return excluded


LAYER_PATTERN = re.compile(r"(?:^|/)transformer_layer_(\d+)/")
EMBEDDINGS_PATTERN = re.compile(r"(?:^|/)embeddings/")


def layer_learning_rate_multipliers(variables, layer_decay):
    """Layer-wise learning-rate decay: a multiplier per variable.

    Variables of `transformer_layer_<i>` get `layer_decay ** (L - i)` (L =
    the number of such layers), the embeddings' `layer_decay ** (L + 1)`,
    the rest (heads, pooler) 1.

    >>> [v.path for v in variables]
    ['embeddings/token_embedding/embeddings', 'transformer_layer_0/...',
     'transformer_layer_1/...', 'classifier/kernel']
    >>> layer_learning_rate_multipliers(variables, 0.5)
    [0.125, 0.25, 0.5, 1.0]
    """
    paths = [variable_path(v) for v in variables]
    layers = [LAYER_PATTERN.search(p) for p in paths]
    indices = [int(m.group(1)) for m in layers if m]
    if not indices:
        raise ValueError("`layer_decay` needs Transformer layers (variables under "
                         "`transformer_layer_<i>/`); this model has none.")
    num_layers = max(indices) + 1
    multipliers = []
    for path, layer in zip(paths, layers):
        if layer:
            depth = int(layer.group(1)) + 1
        elif EMBEDDINGS_PATTERN.search(path):
            depth = 0
        else:
            depth = num_layers + 1
        multipliers.append(float(layer_decay) ** (num_layers + 1 - depth))
    return multipliers


def build_optimizer(config, train_steps, trainable_variables, mixed_precision=None):
    """AdamW for `trainable_variables`, from an `OptimizerConfig`.

    Args:
        config: an `OptimizerConfig`.
        train_steps: the run's total optimizer steps (end of the decay).
        trainable_variables: the model's trainable variables; the optimizer is
            built on them (call inside the strategy's scope).
        mixed_precision: None, "mixed_bfloat16" or "mixed_float16" (wraps the
            optimizer in `keras.optimizers.LossScaleOptimizer`).

    Returns:
        A built optimizer. `optimizer.iterations` counts applied updates.
    """
    if not isinstance(config, OptimizerConfig):
        raise ValueError(f"`config` must be an OptimizerConfig, got {type(config).__name__}.")
    _check_keras_hook()
    trainable_variables = list(trainable_variables)
    optimizer = ReplicaSummedAdamW(
        learning_rate=build_schedule(config, train_steps),
        weight_decay=config.weight_decay,
        beta_1=config.beta_1,
        beta_2=config.beta_2,
        epsilon=config.epsilon,
        global_clipnorm=config.clipnorm,
    )
    optimizer.exclude_from_weight_decay(
        var_list=weight_decay_excluded(trainable_variables, config.weight_decay_exclude))
    if mixed_precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    elif mixed_precision not in (None, "mixed_bfloat16"):
        raise ValueError(
            f"`mixed_precision` must be None, 'mixed_bfloat16' or 'mixed_float16', "
            f"got {mixed_precision!r}.")
    optimizer.build(trainable_variables)
    if config.layer_decay < 1.0:
        inner_optimizer(optimizer).set_learning_rate_multipliers(
            trainable_variables,
            layer_learning_rate_multipliers(trainable_variables, config.layer_decay))
    return optimizer


def inner_optimizer(optimizer):
    """The AdamW inside a `LossScaleOptimizer` (or the optimizer itself)."""
    return getattr(optimizer, "inner_optimizer", optimizer)


def current_learning_rate(optimizer):
    """The learning rate the next update will use, as a Python float."""
    inner = inner_optimizer(optimizer)
    return float(inner.learning_rate)
