"""A tiny random `Seq2SeqTransformer` and source batch shared by the decoding tests."""

import numpy as np
import pytest
import tensorflow as tf

from bertlab.models import Seq2SeqTransformer
from tests.decoding.helpers import VOCAB


@pytest.fixture(scope="module")
def tiny_model():
    # A wide initializer makes next-token distributions peaked and source-dependent,
    # so searches differ from one another and from run to run of the source.
    tf.keras.utils.set_random_seed(7)
    model = Seq2SeqTransformer(VOCAB, num_encoder_layers=1, num_decoder_layers=2,
                               hidden_dim=32, num_heads=2, intermediate_dim=64,
                               max_sequence_length=32, dropout=0.0, initializer_range=0.5)
    return model


@pytest.fixture(scope="module")
def source_batch():
    rng = np.random.default_rng(3)
    ids = rng.integers(3, VOCAB, size=(4, 9)).astype("int32")
    lengths = np.array([9, 6, 3, 1])
    mask = (np.arange(9)[None, :] < lengths[:, None]).astype("int32")
    ids = ids * mask
    return tf.constant(ids), tf.constant(mask)
