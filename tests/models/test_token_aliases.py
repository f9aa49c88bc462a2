"""with_token_aliases: new tokens that read as existing ones."""

import numpy as np
import pytest

from bertlab.models import BertEncoder, CheckpointError, with_token_aliases
from bertlab.text import BertPreprocessor

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "这", "国", "是", "中"]


@pytest.fixture
def encoder():
    model = BertEncoder(vocabulary_size=len(VOCAB), num_layers=1, hidden_dim=8, num_heads=2,
                        intermediate_dim=16, max_sequence_length=16)
    model({k: np.zeros((1, 2), "int32") for k in ("token_ids", "segment_ids", "padding_mask")})
    return model


def _encode(encoder, vocabulary, texts):
    pre = BertPreprocessor.from_vocabulary(vocabulary, sequence_length=8)
    inputs = pre(np.array(texts, dtype=object))
    return inputs["token_ids"].numpy(), encoder(inputs)["sequence_output"].numpy()


def test_an_alias_reads_exactly_as_its_target(encoder):
    aliased, vocab = with_token_aliases(encoder, VOCAB, {"這": "这", "國": "国", "中": "国"})
    assert vocab == VOCAB + ["這", "國"]          # "中" is a token already: not replaced
    assert aliased.vocabulary_size == len(vocab) == 10
    ids, out = _encode(aliased, vocab, ["這是中國", "这是中国"])
    assert ids[0, 1] == 8 and ids[0, 4] == 9 and ids[1, 1] == 4
    np.testing.assert_allclose(out[0], out[1], atol=1e-6)
    # The original tokens still give what the original encoder gives.
    _, before = _encode(encoder, VOCAB, ["这是中国"])
    np.testing.assert_allclose(out[1], before[0], atol=1e-6)
    assert aliased.get_config()["hidden_dim"] == 8


def test_no_alias_left_is_an_unchanged_copy(encoder):
    aliased, vocab = with_token_aliases(encoder, VOCAB, {"中": "国"})
    assert vocab == VOCAB and aliased is not encoder
    for a, b in zip(aliased.weights, encoder.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_bad_aliases_and_vocabularies_are_errors(encoder):
    with pytest.raises(CheckpointError, match="not in the vocabulary: \\['愛'\\]"):
        with_token_aliases(encoder, VOCAB, {"這": "这", "愛": "愛"})
    with pytest.raises(CheckpointError, match="has 7 tokens, the encoder 8"):
        with_token_aliases(encoder, VOCAB[:-1], {})
