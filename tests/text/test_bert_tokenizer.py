"""bertlab's in-graph tokenizer against the checkpoint's own reference tokenizer."""

import json

import numpy as np
import pytest
import tensorflow as tf

from bertlab.text import BertPreprocessor, BertTokenizer, VocabularyError, basic_tokenize


@pytest.fixture(scope="module")
def reference(minilm_dir):
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer.from_file(f"{minilm_dir}/tokenizer.json")
    tok.no_truncation()
    tok.no_padding()
    return tok


@pytest.fixture(scope="module")
def real_texts(data_dir):
    sst2 = [l.split("\t")[0] for l in
            (data_dir / "sst2" / "dev.tsv").read_text("utf-8").splitlines()[1:201]]
    zh = [l.split("\t", 1)[1] for l in
          (data_dir / "chnsenticorp" / "train.tsv").read_text("utf-8").splitlines()[1:101]]
    tatoeba = (data_dir / "tatoeba_zh_en" / "valid.tsv").read_text("utf-8").splitlines()[:100]
    en, zh2 = zip(*[(l.split("\t")[0], l.split("\t")[1]) for l in tatoeba])
    sci = [" ".join(json.loads(l)["source"])[:600] for l in
           (data_dir / "scitldr" / "dev.jsonl").read_text("utf-8").splitlines()[:40]]
    handmade = ["Héllo  WÖRLD!! naïve café, 3.14 — “quoted” … Ångström ﬁ ligature",
                "ｆｕｌｌｗｉｄｔｈ（テスト）", "tab\tand\u00a0nbsp\u3000ideographic space",
                "zero\u200bwidth soft\u00adhyphen", "", "   ", "a" * 150 + " word",
                "Crème brûlée costs $3,000.50 (approx.) in 2024!"]
    return sst2 + zh + list(en) + list(zh2) + sci + handmade


def test_ids_match_reference_tokenizer(minilm_dir, reference, real_texts):
    assert len(real_texts) > 500
    tokenizer = BertTokenizer(f"{minilm_dir}/vocab.txt", lowercase=True)
    ours = tokenizer(tf.constant(real_texts)).to_list()
    mismatches = [(t, o, r) for t, o, r in
                  zip(real_texts, ours, (reference.encode(t).ids[1:-1] for t in real_texts))
                  if o != r]
    assert not mismatches, mismatches[:3]


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


def test_basic_tokenizer_behaviour():
    words = basic_tokenize(tf.constant(["Héllo, wörld!", "中文字", "don't"])).to_list()
    assert words == [[b"hello", b",", b"world", b"!"],
                     ["中".encode(), "文".encode(), "字".encode()],
                     [b"don", b"'", b"t"]]
    cased = basic_tokenize(tf.constant(["Héllo"]), lowercase=False).to_list()
    assert cased == [["Héllo".encode()]]


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


def test_vocabulary_errors(tmp_path):
    with pytest.raises(VocabularyError, match="not found"):
        BertTokenizer(str(tmp_path / "missing.txt"))
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(VocabularyError, match="empty"):
        BertTokenizer(str(empty))
    no_cls = tmp_path / "nocls.txt"
    no_cls.write_text("[PAD]\n[UNK]\n[SEP]\nhello\n")
    with pytest.raises(KeyError, match="CLS"):
        BertPreprocessor.from_vocabulary(str(no_cls))
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"[PAD]\n\xff\xfe\n")
    with pytest.raises(VocabularyError, match="UTF-8"):
        BertTokenizer(str(binary))
    dup = tmp_path / "dup.txt"
    dup.write_text("[UNK]\nhello\nhello\n")
    with pytest.raises(VocabularyError, match="repeats"):
        BertTokenizer(str(dup))
    with pytest.raises(ValueError, match="sequence_length"):
        BertPreprocessor(BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]"]), sequence_length=2)


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
