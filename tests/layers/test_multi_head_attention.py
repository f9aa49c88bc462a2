import numpy as np
import pytest
import tensorflow as tf

from bertlab.layers import MultiHeadAttention
from bertlab.layers.multi_head_attention import update_cache
from tests.harness import run_layer_test


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def test_layer_contract_self_attention():
    out = run_layer_test(MultiHeadAttention, {"num_heads": 2}, _x((2, 5, 8)),
                         expected_output_shape=(2, 5, 8), expected_num_trainable_weights=4,
                         call_kwargs={"padding_mask": np.array([[1] * 5, [1, 1, 1, 0, 0]], "int32")})
    assert np.all(np.isfinite(out[0]))


def test_layer_contract_cross_attention():
    run_layer_test(MultiHeadAttention, {"num_heads": 2, "self_attention": False},
                   [_x((2, 5, 8)), _x((2, 7, 6), 1)], expected_output_shape=(2, 5, 8),
                   expected_num_trainable_weights=6)


def test_padding_does_not_change_real_positions():
    layer = MultiHeadAttention(num_heads=2)
    x = _x((1, 4, 8))
    padded = np.concatenate([x, _x((1, 3, 8), seed=5) * 100], axis=1)
    mask = np.array([[1, 1, 1, 1, 0, 0, 0]])
    ref = layer(x).numpy()
    out = layer(padded, padding_mask=mask).numpy()[:, :4]
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_causal_position_ignores_later_positions():
    layer = MultiHeadAttention(num_heads=2)
    x = _x((1, 6, 8))
    y = x.copy()
    y[:, 4:] = _x((1, 2, 8), seed=9)
    a = layer(x, use_causal_mask=True).numpy()
    b = layer(y, use_causal_mask=True).numpy()
    np.testing.assert_allclose(a[:, :4], b[:, :4], atol=1e-6)
    assert np.abs(a[:, 4:] - b[:, 4:]).max() > 1e-3


@pytest.mark.parametrize("pair", [False, True])
def test_cached_decoding_equals_full_causal_pass(pair):
    layer = MultiHeadAttention(num_heads=2)
    x = _x((2, 5, 8))
    full = layer(x, use_causal_mask=True).numpy()
    cache = (tf.zeros([2, 2, 5, 4]), tf.zeros([2, 2, 5, 4])) if pair else tf.zeros([2, 2, 2, 5, 4])
    # Two positions first (a prompt), then one per call.
    out, cache = layer(x[:, :2], cache=cache, cache_update_index=0)
    steps = [out.numpy()]
    for t in range(2, 5):
        out, cache = layer(x[:, t:t + 1], cache=cache, cache_update_index=t)
        steps.append(out.numpy())
    assert isinstance(cache, tuple) == pair
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)


def test_update_cache_writes_only_the_given_positions():
    cache = tf.reshape(tf.range(2 * 3 * 6 * 2, dtype=tf.float32), [2, 3, 6, 2])
    new = -tf.ones([2, 3, 2, 2])
    out = update_cache(cache, new, tf.constant(3)).numpy()
    expected = cache.numpy()
    expected[:, :, 3:5] = -1
    np.testing.assert_array_equal(out, expected)
    # Under XLA too, with the position a tensor.
    xla = tf.function(update_cache, jit_compile=True)(cache, new, tf.constant(3))
    np.testing.assert_array_equal(xla.numpy(), expected)


def test_cross_attention_precomputed_cache_equals_direct():
    layer = MultiHeadAttention(num_heads=2, self_attention=False)
    q, v = _x((2, 3, 8)), _x((2, 6, 8), 1)
    mask = np.array([[1] * 6, [1, 1, 1, 1, 0, 0]])
    direct = layer(q, v, padding_mask=mask).numpy()
    cache = layer.compute_key_value(v)
    cached, _ = layer(q, padding_mask=mask, cache=cache)
    np.testing.assert_allclose(cached.numpy(), direct, atol=1e-6)


def test_bool_and_int_masks_agree():
    layer = MultiHeadAttention(num_heads=2)
    x = _x((2, 4, 8))
    m = np.array([[1, 1, 0, 0], [1, 1, 1, 0]])
    np.testing.assert_allclose(layer(x, padding_mask=m).numpy(),
                               layer(x, padding_mask=m.astype(bool)).numpy())


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_heads"):
        MultiHeadAttention(num_heads=0)
    with pytest.raises(ValueError, match="dropout"):
        MultiHeadAttention(num_heads=2, dropout=1.5)
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(num_heads=3)(_x((1, 2, 8)))


@pytest.mark.parametrize("masks", ["padding", "attention", "causal"])
def test_query_positions_equal_gathering_the_full_output(masks):
    layer = MultiHeadAttention(num_heads=2)
    x = _x((2, 6, 8))
    positions = np.array([[0, 5, 2], [3, 3, 1]], "int32")  # repeats are allowed
    kwargs = {}
    if masks == "padding":
        kwargs["padding_mask"] = np.array([[1] * 6, [1, 1, 1, 1, 0, 0]], "int32")
    elif masks == "attention":
        kwargs["attention_mask"] = np.random.default_rng(1).integers(0, 2, (2, 6, 6)) | np.eye(6, dtype=int)
    else:
        kwargs["use_causal_mask"] = True
    full = layer(x, **kwargs).numpy()
    at = layer(x, query_positions=positions, **kwargs).numpy()
    assert at.shape == (2, 3, 8)
    np.testing.assert_allclose(at, np.take_along_axis(full, positions[..., None], 1), atol=1e-6)


def test_query_positions_only_for_self_attention():
    cross = MultiHeadAttention(num_heads=2, self_attention=False)
    with pytest.raises(ValueError, match="query_positions"):
        cross(_x((1, 3, 8)), _x((1, 4, 8)), query_positions=np.zeros((1, 2), "int32"))
