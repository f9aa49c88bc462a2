"""AdamW from OptimizerConfig: schedule, weight-decay exclusion, clipping, loss scaling."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from bertlab.training.configs import OptimizerConfig
from bertlab.training.optimization import (ReplicaSummedAdamW, WarmupDecaySchedule,
                                           build_optimizer, build_schedule,
                                           weight_decay_excluded)


def _lr(schedule, step):
    return float(schedule(step))


def test_linear_warmup_then_linear_decay():
    schedule = build_schedule(OptimizerConfig(learning_rate=1e-3, warmup_steps=10,
                                              end_learning_rate=1e-5), train_steps=110)
    assert _lr(schedule, 0) == 0.0
    np.testing.assert_allclose(_lr(schedule, 5), 5e-4, rtol=1e-6)
    np.testing.assert_allclose(_lr(schedule, 10), 1e-3, rtol=1e-6)
    np.testing.assert_allclose(_lr(schedule, 60), 1e-5 + (1e-3 - 1e-5) * 0.5, rtol=1e-6)
    np.testing.assert_allclose(_lr(schedule, 110), 1e-5, rtol=1e-6)
    np.testing.assert_allclose(_lr(schedule, 500), 1e-5, rtol=1e-6)


def test_polynomial_decay_and_no_warmup():
    schedule = build_schedule(OptimizerConfig(learning_rate=2.0, decay="polynomial", power=2.0),
                              train_steps=100)
    np.testing.assert_allclose(_lr(schedule, 0), 2.0, rtol=1e-6)
    np.testing.assert_allclose(_lr(schedule, 50), 2.0 * 0.25, rtol=1e-6)
    np.testing.assert_allclose(_lr(schedule, 100), 0.0, atol=1e-7)
    # "linear" ignores `power`.
    linear = build_schedule(OptimizerConfig(learning_rate=2.0, power=2.0), train_steps=100)
    np.testing.assert_allclose(_lr(linear, 50), 1.0, rtol=1e-6)


def test_schedule_serializes():
    schedule = WarmupDecaySchedule(3e-4, warmup_steps=7, decay_steps=70, end_learning_rate=1e-6,
                                   power=0.5)
    restored = keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(schedule))
    assert isinstance(restored, WarmupDecaySchedule)
    assert restored.get_config() == schedule.get_config()
    for step in (0, 3, 7, 30, 70, 80):
        assert _lr(restored, step) == _lr(schedule, step)


def test_schedule_errors():
    with pytest.raises(ValueError, match="decay_steps"):
        WarmupDecaySchedule(1e-3, warmup_steps=10, decay_steps=5)
    with pytest.raises(ValueError, match="warmup_steps"):
        build_schedule(OptimizerConfig(warmup_steps=20), train_steps=10)


def _model():
    inputs = keras.Input(shape=(4,))
    h = keras.layers.Dense(3, name="dense")(inputs)
    h = keras.layers.LayerNormalization(name="layer_norm")(h)
    outputs = keras.layers.Dense(2, name="head")(h)
    return keras.Model(inputs, outputs)


def test_weight_decay_skips_biases_and_layer_norm():
    model = _model()
    for v in model.trainable_variables:  # nonzero everywhere, so decay would show
        v.assign(np.full(v.shape, 2.0, "float32"))
    excluded = {v.path for v in weight_decay_excluded(model.trainable_variables,
                                                      OptimizerConfig().weight_decay_exclude)}
    assert excluded == {"dense/bias", "layer_norm/gamma", "layer_norm/beta", "head/bias"}

    config = OptimizerConfig(learning_rate=0.1, weight_decay=0.5, clipnorm=None)
    optimizer = build_optimizer(config, train_steps=10,
                                trainable_variables=model.trainable_variables)
    zeros = [np.zeros(v.shape, "float32") for v in model.trainable_variables]
    optimizer.apply(zeros, model.trainable_variables)  # Adam's step is 0: only decay moves
    lr = 0.1 * (1 - 0 / 10)
    for v in model.trainable_variables:
        expected = 2.0 if v.path in excluded else 2.0 * (1 - lr * 0.5)
        np.testing.assert_allclose(v.numpy(), expected, rtol=1e-6, err_msg=v.path)


def test_global_norm_clipping():
    # With a huge epsilon, Adam's update is ~ lr * g / epsilon: linear in the gradient,
    # so clipping shows. Gradient of norm 10 clipped to 1 == the gradient / 10 unclipped.
    def first_update(clipnorm, scale):
        model = _model()
        for v in model.trainable_variables:
            v.assign(np.zeros(v.shape, "float32"))
        config = OptimizerConfig(learning_rate=1.0, epsilon=1e3, weight_decay=0.0,
                                 clipnorm=clipnorm, beta_1=0.0)
        optimizer = build_optimizer(config, 10, model.trainable_variables)
        grads = [np.ones(v.shape, "float32") for v in model.trainable_variables]
        norm = np.sqrt(sum(g.size for g in grads))
        optimizer.apply([g * scale / norm for g in grads], model.trainable_variables)
        return [v.numpy() for v in model.trainable_variables]

    clipped = first_update(clipnorm=1.0, scale=10.0)
    reference = first_update(clipnorm=None, scale=1.0)
    unclipped = first_update(clipnorm=None, scale=10.0)
    for a, b, c in zip(clipped, reference, unclipped):
        np.testing.assert_allclose(a, b, rtol=1e-5)
        assert np.all(np.abs(c) > 5 * np.abs(a))


def test_mixed_precision_wrapping():
    model = _model()
    fp16 = build_optimizer(OptimizerConfig(), 10, model.trainable_variables, "mixed_float16")
    assert isinstance(fp16, keras.optimizers.LossScaleOptimizer)
    assert isinstance(fp16.inner_optimizer, keras.optimizers.AdamW)
    bf16 = build_optimizer(OptimizerConfig(), 10, model.trainable_variables, "mixed_bfloat16")
    assert isinstance(bf16, keras.optimizers.AdamW)
    assert not isinstance(bf16, keras.optimizers.LossScaleOptimizer)
    with pytest.raises(ValueError, match="mixed_precision"):
        build_optimizer(OptimizerConfig(), 10, model.trainable_variables, "float8")


@pytest.mark.parametrize("in_function", [False, True])
def test_fused_adam_update_equals_keras_adamw(in_function):
    rng = np.random.default_rng(0)
    initial = [rng.normal(size=(5, 3)).astype("float32"), rng.normal(size=(3,)).astype("float32")]
    gradients = [[rng.normal(size=w.shape).astype("float32") for w in initial] for _ in range(4)]
    schedule = keras.optimizers.schedules.PolynomialDecay(0.05, 4, 0.01)

    def train(optimizer):
        variables = [keras.Variable(w, name=f"w{i}") for i, w in enumerate(initial)]
        optimizer.build(variables)
        optimizer.exclude_from_weight_decay(var_list=variables[1:])
        def apply(grads):
            optimizer.apply(grads, variables)

        apply = tf.function(apply) if in_function else apply
        for grads in gradients:
            apply([tf.constant(g) for g in grads])
        return [v.numpy() for v in variables] + [
            v.numpy() for v in optimizer._momentums + optimizer._velocities]

    settings = dict(learning_rate=schedule, weight_decay=0.1, beta_1=0.8, beta_2=0.95,
                    epsilon=1e-3)
    fused = train(ReplicaSummedAdamW(**settings))
    reference = train(keras.optimizers.AdamW(**settings))
    for got, want in zip(fused, reference):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    assert not np.allclose(fused[0], initial[0])  # it did train


def _two_layer_classifier():
    from bertlab.models import BertClassifier, BertEncoder

    encoder = BertEncoder(vocabulary_size=30, num_layers=2, hidden_dim=8, num_heads=2,
                          intermediate_dim=16, max_sequence_length=8)
    return BertClassifier(encoder, num_classes=2, pooling="mean")


def _expected_multiplier(path):
    if path.startswith("embeddings/"):
        return 0.125
    if path.startswith("transformer_layer_0/"):
        return 0.25
    if path.startswith("transformer_layer_1/"):
        return 0.5
    return 1.0


def test_layer_decay_scales_each_layers_first_update():
    model = _two_layer_classifier()
    variables = model.trainable_variables
    config = OptimizerConfig(learning_rate=0.01, weight_decay=0.0, clipnorm=None,
                             epsilon=1e-12, layer_decay=0.5)
    optimizer = build_optimizer(config, 100, variables)
    before = [v.numpy() for v in variables]
    grads = [tf.ones_like(v) for v in variables]
    # The token embedding's gradient as a gather gives it: sparse (Keras' Adam path).
    token = [i for i, v in enumerate(variables) if "token_embedding" in v.path][0]
    table = variables[token]
    grads[token] = tf.IndexedSlices(tf.ones([3, table.shape[1]]), tf.constant([1, 4, 7]),
                                    tf.constant(table.shape))
    optimizer.apply(grads, variables)
    seen = set()
    for variable, old, grad in zip(variables, before, grads):
        step = (variable.numpy() - old) / 0.01
        want = _expected_multiplier(variable.path)
        if isinstance(grad, tf.IndexedSlices):
            np.testing.assert_allclose(step[[1, 4, 7]], -want, rtol=1e-4)
            assert not step[[0, 2]].any()
        else:
            np.testing.assert_allclose(step, -want, rtol=1e-4, err_msg=variable.path)
        seen.add(want)
    assert seen == {0.125, 0.25, 0.5, 1.0}


def test_layer_decay_off_and_bad_values():
    model = _two_layer_classifier()
    optimizer = build_optimizer(OptimizerConfig(), 10, model.trainable_variables)
    assert optimizer.learning_rate_multipliers is None
    for bad in (0.0, 1.5, -0.2):
        with pytest.raises(ValueError, match="layer_decay"):
            OptimizerConfig(layer_decay=bad)
    # A model without Transformer layers cannot decay by layer.
    with pytest.raises(ValueError, match="transformer_layer"):
        build_optimizer(OptimizerConfig(layer_decay=0.8), 10, _model().trainable_variables)
