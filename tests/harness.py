"""What every bertlab layer must do: build, shapes, config and `.keras` round trips,
mixed precision. Layer tests call `run_layer_test` and then test their own behaviour."""

import os
import tempfile

import keras
import numpy as np


def _call(layer, inputs, call_kwargs):
    if isinstance(inputs, (list, tuple)):
        return layer(*inputs, **call_kwargs)
    return layer(inputs, **call_kwargs)


def _as_numpy(outputs):
    if isinstance(outputs, (list, tuple)):
        return [np.asarray(o) for o in outputs]
    return [np.asarray(outputs)]


def _wrap_in_model(layer_cls, init_kwargs, inputs, call_kwargs):
    """A functional model around one layer, so the layer goes through `.keras` files."""
    specs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    symbolic = [keras.Input(shape=np.shape(x)[1:], dtype=str(np.asarray(x).dtype)) for x in specs]
    layer = layer_cls(**init_kwargs)
    sym_kwargs = {}
    extra = {}
    for k, v in call_kwargs.items():
        if isinstance(v, np.ndarray):
            extra[k] = keras.Input(shape=v.shape[1:], dtype=str(v.dtype))
        else:
            sym_kwargs[k] = v
    out = layer(*symbolic, **sym_kwargs, **extra)
    model = keras.Model(symbolic + list(extra.values()), out)
    feed = list(specs) + [call_kwargs[k] for k in extra]
    return model, feed


def run_layer_test(layer_cls, init_kwargs, inputs, expected_output_shape,
                   expected_num_trainable_weights=None, call_kwargs=None,
                   run_mixed_precision=True, run_saving=True):
    """Checks a layer; returns its float32 outputs (as numpy arrays)."""
    call_kwargs = call_kwargs or {}
    layer = layer_cls(**init_kwargs)
    outputs = _call(layer, inputs, call_kwargs)
    arrays = _as_numpy(outputs)
    shapes = expected_output_shape if isinstance(expected_output_shape, list) else [expected_output_shape]
    assert [a.shape for a in arrays] == [tuple(s) for s in shapes]
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights

    # get_config / from_config with the same weights gives the same outputs.
    config = layer.get_config()
    clone = layer_cls.from_config(config)
    _call(clone, inputs, call_kwargs)
    clone.set_weights(layer.get_weights())
    for a, b in zip(arrays, _as_numpy(_call(clone, inputs, call_kwargs))):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert clone.get_config() == config

    if run_saving:
        model, feed = _wrap_in_model(layer_cls, init_kwargs, inputs, call_kwargs)
        expected = _as_numpy(model(feed))
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.keras")
            model.save(path)
            restored = keras.saving.load_model(path)
        for a, b in zip(expected, _as_numpy(restored(feed))):
            np.testing.assert_allclose(a, b, atol=1e-6)

    if run_mixed_precision:
        mixed = layer_cls(**{**init_kwargs, "dtype": "mixed_bfloat16"})
        mixed_out = _as_numpy(_call(mixed, inputs, call_kwargs))
        for m in mixed.weights:
            assert m.dtype == "float32", f"{m.path} should stay float32 under mixed precision"
        for a in mixed_out:
            assert np.all(np.isfinite(a.astype(np.float32)))
    return arrays
