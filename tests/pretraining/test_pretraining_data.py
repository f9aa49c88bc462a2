import itertools
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from bertlab.pretraining import corpus, pretraining_data
from bertlab.text import VocabularyError, load_vocabulary, save_vocabulary
from tests.pretraining.helpers import make_data

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _ids(vocab_file):
    tokens = load_vocabulary(str(vocab_file))
    index = {t: i for i, t in enumerate(tokens)}
    return tokens, index


def _unpack(example):
    n = int(example["input_mask"].sum())
    weights = example["masked_lm_weights"]
    m = int(weights.sum())
    return (n, example["input_ids"], example["masked_lm_positions"][:m],
            example["masked_lm_ids"][:m])


def test_features_names_dtypes_lengths_and_padding(pretraining_files):
    _, stats, examples = pretraining_files
    assert len(examples) == stats["instances"] > 300
    for ex in examples:
        assert sorted(ex) == sorted(pretraining_data.FEATURE_NAMES)
        for name in ("input_ids", "input_mask", "segment_ids"):
            assert ex[name].dtype == np.int64 and ex[name].shape == (128,)
        for name in ("masked_lm_positions", "masked_lm_ids"):
            assert ex[name].dtype == np.int64 and ex[name].shape == (20,)
        assert ex["masked_lm_weights"].dtype == np.float32 and ex["masked_lm_weights"].shape == (20,)
        assert ex["next_sentence_labels"].shape == (1,) and ex["next_sentence_labels"][0] in (0, 1)
        n = int(ex["input_mask"].sum())
        assert np.all(ex["input_mask"][:n] == 1) and np.all(ex["input_mask"][n:] == 0)
        assert np.all(ex["input_ids"][n:] == 0) and np.all(ex["segment_ids"][n:] == 0)
        m = int(ex["masked_lm_weights"].sum())
        assert np.all(ex["masked_lm_weights"][:m] == 1.0)
        assert np.all(ex["masked_lm_positions"][m:] == 0) and np.all(ex["masked_lm_ids"][m:] == 0)


def test_pair_structure(pretraining_files, vocab_file):
    _, index = _ids(vocab_file)
    _, _, examples = pretraining_files
    for ex in examples:
        n = int(ex["input_mask"].sum())
        ids, seg = ex["input_ids"][:n], ex["segment_ids"][:n]
        assert ids[0] == index["[CLS]"] and ids[-1] == index["[SEP]"]
        # [SEP] appears exactly twice among the original tokens (it is never masked).
        seps = np.flatnonzero(ids == index["[SEP]"])
        assert len(seps) == 2 and seps[0] >= 2 and seps[1] == n - 1 and seps[1] - seps[0] >= 2
        assert np.all(seg[:seps[0] + 1] == 0) and np.all(seg[seps[0] + 1:] == 1)
    lengths = [int(ex["input_mask"].sum()) for ex in examples]
    # Most instances fill the sequence; document ends and short_seq_prob=0.1 make
    # some shorter.
    assert 0.5 < np.mean(np.array(lengths) == 128) < 0.95 and np.mean(lengths) > 110


def test_masking_statistics(pretraining_files, vocab_file):
    tokens, index = _ids(vocab_file)
    special = {index[t] for t in ("[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]")}
    _, stats, examples = pretraining_files
    masked = content = as_mask = kept = random_token = 0
    for ex in examples:
        n, ids, positions, labels = _unpack(ex)
        assert len(positions) <= 20 and len(set(positions.tolist())) == len(positions)
        assert np.all(positions >= 1) and np.all(positions < n - 1)
        assert np.all(np.diff(positions) > 0)
        # Labels are real tokens, never [CLS]/[SEP]/[PAD]/[MASK].
        assert not set(labels.tolist()) & {index["[PAD]"], index["[CLS]"], index["[SEP]"],
                                           index["[MASK]"]}
        content += n - 3
        masked += len(positions)
        at = ids[positions]
        as_mask += int(np.sum(at == index["[MASK]"]))
        kept += int(np.sum(at == labels))
        replaced = at[(at != index["[MASK]"]) & (at != labels)]
        random_token += len(replaced)
        assert not set(replaced.tolist()) & special  # random tokens are ordinary tokens
    assert masked > 5000
    assert abs(masked / content - 0.15) < 0.01
    assert abs(as_mask / masked - 0.8) < 0.02
    assert abs(kept / masked - 0.1) < 0.015
    assert abs(random_token / masked - 0.1) < 0.015
    assert stats["masked_tokens"] == masked
    assert stats["masked_fraction"] == pytest.approx(masked / content)


def test_unmasked_tokens_are_the_tokenized_text(pretraining_files, vocab_file, wikitext_sentences):
    """Restoring the masked labels gives token runs that occur in the tokenized corpus."""
    import tensorflow as tf
    from bertlab.text import BertTokenizer

    tokens, index = _ids(vocab_file)
    tokenizer = BertTokenizer(str(vocab_file))
    corpus_ids = tokenizer(tf.constant(wikitext_sentences)).flat_values.numpy()
    corpus_text = " " + " ".join(map(str, corpus_ids.tolist())) + " "
    _, _, examples = pretraining_files
    for ex in examples[:50]:
        n, ids, positions, labels = _unpack(ex)
        original = ids[:n].copy()
        original[positions] = labels
        sep = int(np.flatnonzero(original == index["[SEP]"])[0])
        # Segment A is a contiguous run of the corpus (sentences are consecutive).
        segment_a = " " + " ".join(map(str, original[1:sep].tolist())) + " "
        assert segment_a in corpus_text


def test_next_sentence_balance(pretraining_files):
    _, stats, examples = pretraining_files
    random_next = np.mean([ex["next_sentence_labels"][0] for ex in examples])
    # 50% by the coin flip, plus one-sentence chunks that always take a random B
    # (google-research/bert's rule): a little above one half.
    assert 0.45 < random_next < 0.62
    assert stats["next_sentence_random_fraction"] == pytest.approx(random_next)


def test_whole_word_masking_never_splits_a_word(whole_word_files, vocab_file):
    tokens, index = _ids(vocab_file)
    continuation = np.array([t.startswith("##") for t in tokens])
    _, stats, examples = whole_word_files
    multi_piece_words = 0
    for ex in examples:
        n, ids, positions, labels = _unpack(ex)
        original = ids[:n].copy()
        original[positions] = labels
        chosen = np.zeros(n, bool)
        chosen[positions] = True
        # Word starts: every token that is not a ## continuation of the previous one.
        starts = [i for i in range(n) if not (continuation[original[i]] and i > 0
                                              and original[i - 1] != index["[SEP]"]
                                              and original[i - 1] != index["[CLS]"])]
        for start, end in zip(starts, starts[1:] + [n]):
            word = chosen[start:end]
            assert word.all() or not word.any(), (start, end, original[start:end])
            if end - start > 1 and word.all():
                multi_piece_words += 1
    assert multi_piece_words > 50
    assert abs(stats["masked_fraction"] - 0.15) < 0.02


def test_sharding_and_stats_file(pretraining_files):
    prefix, stats, _ = pretraining_files
    assert stats["files"] == [f"{prefix}-00000-of-00002.tfrecord", f"{prefix}-00001-of-00002.tfrecord"]
    counts = [len(pretraining_data.read_examples(p)) for p in stats["files"]]
    assert abs(counts[0] - counts[1]) <= 1 and sum(counts) == stats["instances"]
    with open(f"{prefix}-stats.json", encoding="utf-8") as f:
        saved = json.load(f)
    assert saved["instances"] == stats["instances"]
    assert saved["config"]["max_seq_length"] == 128 and saved["documents"] == 6
    assert not [p for p in os.listdir(os.path.dirname(prefix)) if ".tmp" in p]


def test_deterministic_for_a_seed(wikitext_file, vocab_file, tmp_path):
    small = dict(max_seq_length=64, dupe_factor=1, num_shards=3)
    runs = [make_data(wikitext_file, vocab_file, tmp_path / name, random_seed=seed, **small)
            for name, seed in (("a", 1), ("b", 1), ("c", 2))]

    def contents(stats):
        return [open(p, "rb").read() for p in stats["files"]]

    assert len(runs[0][1]["files"]) == 3
    assert contents(runs[0][1]) == contents(runs[1][1])
    assert contents(runs[0][1]) != contents(runs[2][1])


def test_chunks_stream_and_bound_documents():
    def endless():
        for i in itertools.count():
            yield [f"d{i}s{j}" for j in range(5)]

    chunks = pretraining_data._chunks(endless(), chunk_documents=3, max_document_sentences=2)
    first = next(chunks)  # does not exhaust the endless corpus
    assert first == [["d0s0", "d0s1"], ["d0s2", "d0s3"], ["d0s4"]]
    assert next(chunks)[0] == ["d1s0", "d1s1"]


def test_small_chunks_and_buffer_still_pair_across_documents(wikitext_file, vocab_file, tmp_path):
    _, stats, examples = make_data(wikitext_file, vocab_file, tmp_path, dupe_factor=1,
                                   max_seq_length=64, chunk_documents=2,
                                   random_buffer_documents=1, num_shards=1)
    assert stats["documents"] == 6 and len(examples) == stats["instances"] > 100
    assert 0.4 < stats["next_sentence_random_fraction"] < 0.8


def test_bad_inputs_give_clear_errors(wikitext_file, vocab_file, tmp_path):
    config = pretraining_data.PretrainingDataConfig(dupe_factor=1)
    out = str(tmp_path / "out" / "x")
    with pytest.raises(corpus.CorpusError, match="No input files match"):
        pretraining_data.create_pretraining_data(str(tmp_path / "none*.txt"), str(vocab_file), out,
                                                 config)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n\n", encoding="utf-8")
    with pytest.raises(corpus.CorpusError, match="no document with text"):
        pretraining_data.create_pretraining_data(str(empty), str(vocab_file), out, config)
    assert not os.path.exists(out + "-00000-of-00001.tfrecord")
    with pytest.raises(VocabularyError, match="not found"):
        pretraining_data.create_pretraining_data(str(wikitext_file), str(tmp_path / "v.txt"), out,
                                                 config)
    no_mask = tmp_path / "no_mask.txt"
    save_vocabulary([t for t in load_vocabulary(str(vocab_file)) if t != "[MASK]"], str(no_mask))
    with pytest.raises(VocabularyError, match=r"no \[MASK\] token"):
        pretraining_data.create_pretraining_data(str(wikitext_file), str(no_mask), out, config)
    with pytest.raises(ValueError, match="max_seq_length"):
        pretraining_data.PretrainingDataConfig(max_seq_length=4)
    with pytest.raises(ValueError, match="masked_lm_prob"):
        pretraining_data.PretrainingDataConfig(masked_lm_prob=1.5)
    assert not os.listdir(tmp_path / "out")


def test_failure_midway_keeps_existing_outputs(wikitext_file, vocab_file, tmp_path):
    prefix, stats, _ = make_data(wikitext_file, vocab_file, tmp_path, dupe_factor=1,
                                 max_seq_length=64, num_shards=1, chunk_documents=1)
    before = open(stats["files"][0], "rb").read()
    bad = tmp_path / "bad.txt"
    bad.write_bytes(open(wikitext_file, "rb").read() + b"\n = Last = \n broken \xff text .\n")
    config = pretraining_data.PretrainingDataConfig(max_seq_length=64, dupe_factor=1,
                                                    input_format="wikitext", chunk_documents=1)
    with pytest.raises(corpus.CorpusError, match="not valid UTF-8"):
        pretraining_data.create_pretraining_data(str(bad), str(vocab_file), prefix, config)
    assert open(stats["files"][0], "rb").read() == before
    assert not [p for p in os.listdir(tmp_path) if ".tmp" in p]


def _run_app(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "apps.pretrain.create_data", *args],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_create_data_app(wikitext_file, vocab_file, tmp_path):
    prefix = tmp_path / "app" / "wiki"
    done = _run_app(f"--input={wikitext_file}", f"--vocab_file={vocab_file}", f"--output={prefix}",
                    "--input_format=wikitext", "--max_seq_length=32", "--max_predictions_per_seq=5",
                    "--dupe_factor=1", "--num_shards=2", "--whole_word_mask", "--noprogress")
    assert done.returncode == 0, done.stderr[-2000:]
    stats = json.loads(open(f"{prefix}-stats.json", encoding="utf-8").read())
    assert stats["config"]["whole_word_mask"] and stats["config"]["max_seq_length"] == 32
    examples = pretraining_data.read_examples(f"{prefix}-00001-of-00002.tfrecord")
    assert examples and examples[0]["input_ids"].shape == (32,)
    assert examples[0]["masked_lm_ids"].shape == (5,)

    done = _run_app(f"--input={wikitext_file}", f"--vocab_file={tmp_path / 'missing.txt'}",
                    f"--output={tmp_path / 'x'}")
    assert done.returncode != 0 and "Vocabulary file not found" in done.stderr
