"""WordPieceCodec: WordPiece tokenization and in-graph detokenization (MiniLM's vocabulary)."""

import os

import tensorflow as tf

from bertlab.text.wordpiece_codec import WordPieceCodec


def test_wordpiece_codec_round_trip(minilm_dir):
    codec = WordPieceCodec(os.path.join(minilm_dir, "vocab.txt"))
    texts = ["We propose a state-of-the-art model (called X), which isn't slow!",
             "Tokenization: embeddings, 3.5% faster."]
    ids = codec(tf.constant(texts))
    decoded = [t.decode("utf-8") for t in codec.detokenize(ids).numpy()]
    assert decoded == [t.lower() for t in texts]
    dense = ids.to_tensor()
    padded = tf.concat([tf.fill([2, 1], codec.start_token_id), dense,
                        tf.fill([2, 1], codec.end_token_id)], axis=1)
    assert [t.decode() for t in codec.detokenize(padded).numpy()] == decoded
    clone = WordPieceCodec.from_config(codec.get_config())
    assert clone(tf.constant(texts)).to_list() == ids.to_list()
