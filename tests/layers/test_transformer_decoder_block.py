"""TransformerDecoderBlock: the layer contract, causality, and incremental decoding with
self- and cross-attention caches equal to the full computation."""

import numpy as np
import pytest
import tensorflow as tf

from bertlab.layers import TransformerDecoderBlock
from tests.harness import run_layer_test
from tests.layers.helpers import random_inputs as _x


def test_decoder_contract():
    run_layer_test(TransformerDecoderBlock, {"num_heads": 2, "intermediate_dim": 16},
                   [_x((2, 5, 8)), _x((2, 7, 8), 1)], expected_output_shape=(2, 5, 8),
                   expected_num_trainable_weights=20)


def test_decoder_is_causal_and_cache_matches():
    block = TransformerDecoderBlock(2, 16, dropout=0.0)
    x, enc = _x((2, 5, 8)), _x((2, 6, 8), 1)
    enc_mask = np.array([[1] * 6, [1, 1, 1, 0, 0, 0]])
    full = block(x, encoder_outputs=enc, encoder_padding_mask=enc_mask).numpy()
    changed = x.copy()
    changed[:, 3:] = _x((2, 2, 8), 7)
    later = block(changed, encoder_outputs=enc, encoder_padding_mask=enc_mask).numpy()
    np.testing.assert_allclose(full[:, :3], later[:, :3], atol=1e-5)

    cross = block.compute_cross_attention_cache(enc)
    cache = tf.zeros([2, 2, 2, 5, 4])
    steps = []
    for t in range(5):
        out, cache = block(x[:, t:t + 1], encoder_padding_mask=enc_mask,
                           self_attention_cache=cache, cache_update_index=t,
                           cross_attention_cache=cross)
        steps.append(out.numpy())
    np.testing.assert_allclose(np.concatenate(steps, 1), full, atol=1e-5)


def test_decoder_only_block_has_no_cross_attention():
    run_layer_test(TransformerDecoderBlock,
                   {"num_heads": 2, "intermediate_dim": 16, "normalize_first": True,
                    "use_cross_attention": False},
                   _x((2, 5, 8)), expected_output_shape=(2, 5, 8),
                   expected_num_trainable_weights=12)
    block = TransformerDecoderBlock(2, 16, dropout=0.0, normalize_first=True,
                                    use_cross_attention=False)
    x = _x((2, 5, 8))
    full = block(x).numpy()
    cache = tf.zeros([2, 2, 2, 5, 4])
    prefix, cache = block(x[:, :3], self_attention_cache=cache, cache_update_index=0)
    last, cache = block(x[:, 3:], self_attention_cache=cache, cache_update_index=3)
    np.testing.assert_allclose(np.concatenate([prefix, last], 1), full, atol=1e-5)
    with pytest.raises(ValueError, match="no cross-attention"):
        block(x, encoder_outputs=x)
