"""TransformerEncoderBlock: the layer contract (post- and pre-norm), padding invariance,
mixed precision, outputs at selected query positions."""

import numpy as np
import pytest
import tensorflow as tf

from bertlab.layers import TransformerEncoderBlock
from tests.harness import run_layer_test
from tests.layers.helpers import random_inputs as _x


@pytest.mark.parametrize("normalize_first", [False, True])
def test_encoder_contract(normalize_first):
    run_layer_test(TransformerEncoderBlock,
                   {"num_heads": 2, "intermediate_dim": 16, "normalize_first": normalize_first},
                   _x((2, 5, 8)), expected_output_shape=(2, 5, 8),
                   expected_num_trainable_weights=12,
                   call_kwargs={"padding_mask": np.array([[1] * 5, [1, 1, 0, 0, 0]], "int32")})


def test_encoder_padding_invariance():
    block = TransformerEncoderBlock(2, 16, dropout=0.0)
    x = _x((1, 4, 8))
    padded = np.concatenate([x, _x((1, 4, 8), 3)], axis=1)
    ref = block(x).numpy()
    out = block(padded, padding_mask=np.array([[1] * 4 + [0] * 4])).numpy()[:, :4]
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_encoder_mixed_precision_close_to_float32():
    x = _x((2, 6, 16))
    f32 = TransformerEncoderBlock(4, 32, dropout=0.0)
    bf16 = TransformerEncoderBlock(4, 32, dropout=0.0, dtype="mixed_bfloat16")
    ref = f32(x).numpy()
    bf16(x)
    bf16.set_weights(f32.get_weights())
    out = bf16(x)
    assert out.dtype == tf.bfloat16
    np.testing.assert_allclose(out.numpy().astype("float32"), ref, atol=0.1)


@pytest.mark.parametrize("normalize_first", [False, True])
def test_encoder_query_positions_equal_gathering_the_full_output(normalize_first):
    block = TransformerEncoderBlock(2, 16, dropout=0.0, normalize_first=normalize_first)
    x = _x((2, 7, 8))
    mask = np.array([[1] * 7, [1] * 4 + [0] * 3], "int32")
    positions = np.array([[6, 0, 2], [1, 3, 0]], "int32")
    full = block(x, padding_mask=mask).numpy()
    at = block(x, padding_mask=mask, query_positions=positions).numpy()
    np.testing.assert_allclose(at, np.take_along_axis(full, positions[..., None], 1), atol=1e-5)
    spec = block.compute_output_spec(tf.keras.KerasTensor((None, 7, 8)),
                                     query_positions=tf.keras.KerasTensor((None, 3), "int32"))
    assert tuple(spec.shape) == (None, 3, 8)
