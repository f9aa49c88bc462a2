"""`build_bert2bert`: a seq2seq Transformer whose encoder is the BERT checkpoint and
whose decoder reuses BERT's layers."""

import numpy as np
import pytest

from bertlab.models import BertEncoder
from bertlab.models.bert2bert import build_bert2bert


def test_bert2bert_encoder_is_bert(minilm_dir):
    model = build_bert2bert(minilm_dir, dropout=0.0, num_decoder_layers=2)
    bert = BertEncoder.from_pretrained(minilm_dir)
    ids = np.array([[101, 7592, 2088, 999, 102, 0], [101, 2307, 102, 0, 0, 0]], "int32")
    mask = (ids > 0).astype("int32")
    expected = bert({"token_ids": ids, "segment_ids": np.zeros_like(ids),
                     "padding_mask": mask})["sequence_output"].numpy()
    got = model.encode(ids, mask).numpy()
    np.testing.assert_allclose(got[mask == 1], expected[mask == 1], atol=2e-5)
    # The decoder reuses BERT's layers: self-attention and feed-forward weights match,
    # and the output projection is tied to the shared token embedding.
    block, bert_block = model.decoder_blocks[1], bert.transformer_layers[1]
    for a, b in zip(block.feed_forward.get_weights(), bert_block.feed_forward.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(block.cross_attention.query_dense.get_weights()[0],
                                  bert_block.attention.qkv_dense.get_weights()[0][:, :384])
    logits = model({"encoder_token_ids": ids, "encoder_padding_mask": mask,
                    "decoder_token_ids": ids[:, :3], "decoder_padding_mask": mask[:, :3]})
    assert logits.shape == (2, 3, 30522)
    with pytest.raises(ValueError, match="vocabulary_size"):
        build_bert2bert(minilm_dir, vocabulary_size=1000)
