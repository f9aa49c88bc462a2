"""bertlab's in-graph preprocessor (tokenize, truncate, pack) against the checkpoint's own
reference tokenizer; bad inputs, padding, config round trip, TF Serving's ops."""

import numpy as np
import tensorflow as tf

from bertlab.text import BertPreprocessor


def test_preprocessor_matches_reference_with_truncation(minilm_dir, reference, real_texts):
    pre = BertPreprocessor.from_pretrained(minilm_dir, sequence_length=32)
    out = {k: v.numpy() for k, v in pre(tf.constant(real_texts)).items()}
    for i, text in enumerate(real_texts):
        ids = reference.encode(text).ids
        if len(ids) > 32:
            ids = ids[:31] + [ids[-1]]
        n = len(ids)
        assert out["token_ids"][i, :n].tolist() == ids
        assert out["padding_mask"][i].tolist() == [1] * n + [0] * (32 - n)
        assert not out["token_ids"][i, n:].any()


def _truncate_seq_pair(a, b, max_length):
    """google-research/bert's rule: pop from the longer segment (from `b` on a tie)."""
    a, b = list(a), list(b)
    while len(a) + len(b) > max_length:
        if len(a) > len(b):
            a.pop()
        else:
            b.pop()
    return a, b


def test_sentence_pairs_match_reference(minilm_dir, reference, real_texts):
    a, b = real_texts[:150], real_texts[150:300]
    pre = BertPreprocessor.from_pretrained(minilm_dir, sequence_length=24)
    out = {k: v.numpy() for k, v in pre((tf.constant(a), tf.constant(b))).items()}
    for i, (x, y) in enumerate(zip(a, b)):
        ta, tb = _truncate_seq_pair(reference.encode(x).ids[1:-1],
                                    reference.encode(y).ids[1:-1], 24 - 3)
        ids = [101] + ta + [102] + tb + [102]
        n = len(ids)
        assert out["token_ids"][i, :n].tolist() == ids
        assert out["segment_ids"][i, :n].tolist() == [0] * (len(ta) + 2) + [1] * (len(tb) + 1)


def test_invalid_utf8_empty_and_huge_inputs(minilm_dir):
    pre = BertPreprocessor.from_pretrained(minilm_dir, sequence_length=16)
    texts = tf.constant([b"ok \xff\xfe bytes", b"", b"x " * 20000, "混合 scripts ñ".encode()])
    out = pre(texts)
    ids = out["token_ids"].numpy()
    assert ids.shape == (4, 16)
    assert ids[1, :2].tolist() == [101, 102]  # empty string: [CLS] [SEP]
    assert out["padding_mask"].numpy()[2].sum() == 16  # truncated to the length


def test_pad_to_longest_and_tf_data(minilm_dir):
    pre = BertPreprocessor.from_pretrained(minilm_dir, sequence_length=64, pad_to_longest=True)
    ds = tf.data.Dataset.from_tensor_slices(["a short one", "a somewhat longer sentence here"])
    batches = list(ds.batch(2).map(pre))
    assert batches[0]["token_ids"].shape == (2, 7)


def test_layers_round_trip_through_config(minilm_dir):
    pre = BertPreprocessor.from_pretrained(minilm_dir, sequence_length=12)
    clone = BertPreprocessor.from_config(pre.get_config())
    text = tf.constant(["round trip this sentence"])
    np.testing.assert_array_equal(pre(text)["token_ids"], clone(text)["token_ids"])


def test_graph_uses_no_trimmer_op(minilm_dir):
    """TF Serving's bundled tensorflow-text lacks the trimmer ops (tensorflow/serving#4057)."""
    pre = BertPreprocessor.from_pretrained(minilm_dir, sequence_length=16)
    fn = tf.function(lambda a, b: pre((a, b)))
    graph = fn.get_concrete_function(tf.TensorSpec([None], tf.string),
                                     tf.TensorSpec([None], tf.string)).graph
    ops = {op.type for op in graph.get_operations()}
    for function in graph.as_graph_def().library.function:
        ops.update(node.op for node in function.node_def)
    assert not [op for op in ops if "Trim" in op], sorted(ops)
