"""Reference computations for the decoding tests."""

import numpy as np
import tensorflow as tf

VOCAB = 40
PAD, START, END = 0, 1, 2


def score_sequences(model, source_ids, source_mask, token_ids, lengths, processor=None):
    """Teacher-forced sum of log-probabilities of `token_ids[:, :lengths]` given the
    source: an independent check of what the decoders report."""
    token_ids = np.asarray(token_ids)
    n, length = token_ids.shape
    decoder_in = np.concatenate([np.full((n, 1), START), token_ids[:, :-1]], axis=1)
    logits = model({"encoder_token_ids": source_ids, "encoder_padding_mask": source_mask,
                    "decoder_token_ids": tf.constant(decoder_in, tf.int32),
                    "decoder_padding_mask": tf.ones((n, length), tf.int32)}).numpy()
    if processor is not None:
        buffer = tf.constant(np.concatenate([np.full((n, 1), START), token_ids], 1), tf.int32)
        logits = np.stack([processor(tf.constant(logits[:, t]), buffer, t).numpy()
                           for t in range(length)], axis=1)
    log_probs = tf.nn.log_softmax(logits, axis=-1).numpy()
    picked = np.take_along_axis(log_probs, token_ids[..., None], axis=-1)[..., 0]
    valid = np.arange(length)[None, :] < np.asarray(lengths)[:, None]
    return (picked * valid).sum(axis=1)
