"""An exponential moving average of a model's weights, for evaluation and export.

Fine-tuning a small encoder on a small dataset leaves the weights (and the
validation score) jumping from one evaluation to the next; the average of the
recent weights is smoother and usually better (Polyak averaging; what
`tf.train.ExponentialMovingAverage` and Keras' `use_ema` do). The trainer keeps
the average beside the weights it trains, and swaps it in to evaluate, to pick
the best checkpoint and to export.

Example:
>>> average = WeightAverage(model.trainable_variables, decay=0.999)
>>> average.update(step)            # after each optimizer step
>>> with average.swapped():         # the averaged weights are in the model
...     evaluate(model)
"""

import contextlib

import tensorflow as tf


class WeightAverage:
    """Shadow copies of `variables` that follow them as an exponential moving average.

    `shadow <- d * shadow + (1 - d) * variable` after every step, with
    `d = min(decay, (1 + step) / (10 + step))`: early on, when the shadow still
    holds the initial weights, it follows the weights more closely (as
    `tf.train.ExponentialMovingAverage(num_updates=step)` does).

    Create it in the strategy scope that holds `variables` (the shadows are
    mirrored like them); call `update` and `swap` in cross-replica context. The
    shadows are ordinary variables: track them in the checkpoint (`shadows`)
    so an interrupted run resumes its average.

    Args:
      variables: the float variables to average (e.g. `model.trainable_variables`).
      decay: in (0, 1); the average's time constant is about `1 / (1 - decay)` steps.
    """

    def __init__(self, variables, decay):
        decay = float(decay)
        if not 0.0 < decay < 1.0:
            raise ValueError(f"The weight-average `decay` must be in (0, 1), got {decay}.")
        self.decay = decay
        self.variables = list(variables)
        if not self.variables:
            raise ValueError("WeightAverage needs at least one variable to average.")
        self.shadows = [
            tf.Variable(tf.convert_to_tensor(v), trainable=False,
                        name=f"average_{i}", aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
            for i, v in enumerate(self.variables)]
        self.is_swapped = False
        self._swap_fn = tf.function(self._swap_values)

    def update(self, step):
        """Moves the shadows towards the variables (call after each optimizer step)."""
        step = tf.cast(step, tf.float32)
        decay = tf.minimum(self.decay, (1.0 + step) / (10.0 + step))
        for shadow, variable in zip(self.shadows, self.variables):
            shadow.assign(decay * shadow + (1.0 - decay) * tf.cast(variable, shadow.dtype))

    def reset(self):
        """Sets the averages to the variables' current values (after loading weights
        from elsewhere, e.g. the best checkpoint, the old average is stale)."""
        if self.is_swapped:
            raise RuntimeError("WeightAverage.reset() inside swapped(): swap back first.")
        for shadow, variable in zip(self.shadows, self.variables):
            shadow.assign(tf.cast(variable, shadow.dtype))

    def _swap_values(self):
        for shadow, variable in zip(self.shadows, self.variables):
            current = tf.identity(variable)
            variable.assign(shadow)
            shadow.assign(current)

    def swap(self):
        """Exchanges the variables' values with the averages (twice = no change)."""
        self._swap_fn()
        self.is_swapped = not self.is_swapped

    @contextlib.contextmanager
    def swapped(self):
        """A context in which the variables hold the averaged weights (re-entrant:
        an inner `swapped()` inside an outer one changes nothing)."""
        if self.is_swapped:
            yield
            return
        self.swap()
        try:
            yield
        finally:
            self.swap()
