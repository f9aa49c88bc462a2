"""Fixed sinusoidal position encoding (Vaswani et al., 2017)."""

import math

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="bertlab")
class SinusoidalPositionEncoding(keras.layers.Layer):
    """`PE[p, 2i] = sin(p / w^(2i/d))`, `PE[p, 2i+1] = cos(p / w^(2i/d))`; no weights.

    Args:
      max_wavelength: `w` above (10,000 in the paper).

    Call: `inputs` `[batch, seq, dim]` (dim even), optional `start_index` ->
    `[1, seq, dim]` encodings of positions `start_index ... start_index + seq - 1`.

    Example:
    >>> SinusoidalPositionEncoding()(np.zeros((2, 5, 8))).shape
    (1, 5, 8)
    """

    def __init__(self, max_wavelength=10000.0, **kwargs):
        super().__init__(**kwargs)
        if float(max_wavelength) <= 1.0:
            raise ValueError(f"`max_wavelength` must be > 1, got {max_wavelength}.")
        self.max_wavelength = float(max_wavelength)

    def build(self, inputs_shape):
        if inputs_shape[-1] % 2:
            raise ValueError(f"Sinusoidal encoding needs an even width, got {inputs_shape[-1]}.")
        self.built = True

    def call(self, inputs, start_index=0):
        dim = inputs.shape[-1]
        length = tf.shape(inputs)[1]
        positions = tf.cast(tf.range(length) + start_index, tf.float32)
        inv_freq = tf.exp(
            tf.range(0, dim, 2, dtype=tf.float32) * (-math.log(self.max_wavelength) / dim)
        )
        angles = positions[:, None] * inv_freq[None, :]
        # Interleave sin (even columns) and cos (odd columns).
        encoding = tf.reshape(tf.stack([tf.sin(angles), tf.cos(angles)], axis=-1), [length, dim])
        return tf.cast(encoding, self.compute_dtype)[None]

    def compute_output_shape(self, inputs_shape):
        return (1,) + tuple(inputs_shape[1:])

    def get_config(self):
        config = super().get_config()
        config.update(max_wavelength=self.max_wavelength)
        return config
