"""Chinese whole-word masking (`--whole_word_mask --segmenter=jieba`): words from jieba, the
tokens of a word masked together, BERT's masking statistics, the TFRecord format unchanged."""

import itertools
import json

import numpy as np
import pytest

from bertlab.pretraining import corpus, instances, pretraining_data, word_segmentation
from bertlab.text import load_vocabulary, save_vocabulary, vocabulary_learning
from tests.apps.app_process import run_apps

pytest.importorskip("jieba")


@pytest.fixture(scope="module")
def segment():
    return word_segmentation.make_segmenter("jieba")


def test_word_continuations_follow_jieba_words(segment):
    assert segment("我爱北京天安门") == ["我", "爱", "北京", "天安门"]
    assert word_segmentation.word_continuations("我爱北京天安门", range(7), segment) == [
        False, False, False, True, False, True, True]
    # Tokens of "使用 BERT 模型。": 使 用 be ##rt 模 型 。 at these character starts.
    assert segment("使用 BERT 模型。") == ["使用", " ", "BERT", " ", "模型", "。"]
    assert word_segmentation.word_continuations(
        "使用 BERT 模型。", [0, 1, 3, 5, 8, 9, 10], segment) == [
        False, True, False, True, False, True, False]
    assert word_segmentation.word_continuations("", [], segment) == []


def test_document_tokenizer_marks_the_continuations_of_each_word(segment):
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "爱", "北", "京", "天", "安",
             "门", "使", "用", "be", "##rt", "模", "型"]
    plain = pretraining_data._DocumentTokenizer(vocab, True, 2)
    marked = pretraining_data._DocumentTokenizer(vocab, True, 2, segment)
    documents = [["我爱北京天安门", "使用BERT模型"], ["  "], ["使用 BERT 模型"]]
    assert plain(documents) == [[[5, 6, 7, 8, 9, 10, 11], [12, 13, 14, 15, 16, 17]],
                                [[12, 13, 14, 15, 16, 17]]]
    assert marked(documents) == [[[5, 6, 7, -1 - 8, 9, -1 - 10, -1 - 11],
                                  [12, -1 - 13, 14, -1 - 15, 16, -1 - 17]],
                                 [[12, -1 - 13, 14, -1 - 15, 16, -1 - 17]]]


def test_bad_segmenter_settings():
    with pytest.raises(ValueError, match=r"`segmenter` must be one of \('jieba',\), got 'ltp'"):
        pretraining_data.PretrainingDataConfig(whole_word_mask=True, segmenter="ltp")
    with pytest.raises(ValueError, match="set `whole_word_mask`"):
        pretraining_data.PretrainingDataConfig(segmenter="jieba")
    with pytest.raises(ValueError, match="got 'thulac'"):
        word_segmentation.make_segmenter("thulac")


@pytest.fixture(scope="module")
def zhwiki_slice(data_dir, tmp_path_factory):
    """The first 150 articles of the shared zhwiki text, in the lines format, and a
    vocabulary of every ideograph in them plus 1,500 learned pieces."""
    work = tmp_path_factory.mktemp("zhwiki")
    documents = list(itertools.islice(corpus.read_documents(
        [str(data_dir / "zhwiki" / "zhwiki_000.txt.gz")], "wikiextractor"), 150))
    text = work / "train.txt"
    text.write_text("\n\n".join("\n".join(d) for d in documents) + "\n", encoding="utf-8")
    tokens = vocabulary_learning.learn_vocabulary_from_lines(
        [s for d in documents for s in d], vocab_size=6000, cjk_min_count=1)
    save_vocabulary(tokens, str(work / "vocab.txt"))
    return work


@pytest.fixture(scope="module")
def recorded_instances(zhwiki_slice, segment):
    """`(stats, examples, calls)`: data made with jieba words, and the marked tokens each
    `create_masked_lm_predictions` call received with the positions it chose."""
    calls = []
    original = instances.create_masked_lm_predictions

    def record(tokens, segment_ids, *args):
        result = original(tokens, segment_ids, *args)
        calls.append((list(tokens), list(segment_ids), result[1]))
        return result

    config = pretraining_data.PretrainingDataConfig(
        max_seq_length=128, max_predictions_per_seq=20, dupe_factor=3, whole_word_mask=True,
        segmenter="jieba", random_seed=3)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(instances, "create_masked_lm_predictions", record)
        stats = pretraining_data.create_pretraining_data(
            str(zhwiki_slice / "train.txt"), str(zhwiki_slice / "vocab.txt"),
            str(zhwiki_slice / "wwm"), config)
    examples = [e for path in stats["files"] for e in pretraining_data.read_examples(path)]
    return stats, examples, calls


def test_no_word_is_split_between_masked_and_unmasked(recorded_instances, zhwiki_slice):
    _, examples, calls = recorded_instances
    vocab = load_vocabulary(str(zhwiki_slice / "vocab.txt"))
    boundaries = (vocab.index("[CLS]"), vocab.index("[SEP]"))
    assert len(calls) == len(examples) > 1000
    whole_multi_character_words = 0
    for tokens, segment_ids, positions in calls:
        chosen = np.zeros(len(tokens), bool)
        chosen[positions] = True
        # Words: a run of a token and the marked tokens after it, within one segment.
        starts = [i for i in range(len(tokens))
                  if not (tokens[i] < 0 and tokens[i - 1] not in boundaries
                          and segment_ids[i - 1] == segment_ids[i])]
        for start, end in zip(starts, starts[1:] + [len(tokens)]):
            word = chosen[start:end]
            assert word.all() or not word.any(), (tokens[start:end], positions)
            whole_multi_character_words += end - start > 1 and word.all()
    assert whole_multi_character_words > 2000


def test_masking_statistics_hold_with_chinese_words(recorded_instances, zhwiki_slice):
    stats, examples, _ = recorded_instances
    tokens = load_vocabulary(str(zhwiki_slice / "vocab.txt"))
    mask = tokens.index("[MASK]")
    masked = content = as_mask = kept = 0
    for ex in examples:
        assert sorted(ex) == sorted(pretraining_data.FEATURE_NAMES)  # the format is unchanged
        assert ex["input_ids"].shape == (128,) and ex["masked_lm_ids"].shape == (20,)
        assert np.all(ex["input_ids"] >= 0) and np.all(ex["masked_lm_ids"] >= 0)
        n = int(ex["input_mask"].sum())
        m = int(ex["masked_lm_weights"].sum())
        positions, labels = ex["masked_lm_positions"][:m], ex["masked_lm_ids"][:m]
        at = ex["input_ids"][positions]
        content += n - 3
        masked += m
        as_mask += int(np.sum(at == mask))
        kept += int(np.sum(at == labels))
    assert masked > 10000
    assert abs(masked / content - 0.15) < 0.01
    assert abs(as_mask / masked - 0.8) < 0.02
    assert abs(kept / masked - 0.1) < 0.015
    assert abs((masked - as_mask - kept) / masked - 0.1) < 0.015
    assert stats["config"]["segmenter"] == "jieba" and stats["config"]["whole_word_mask"]
    assert stats["masked_fraction"] == pytest.approx(masked / content)


def test_create_data_app_segmenter_flag(zhwiki_slice):
    base = [f"--input={zhwiki_slice / 'train.txt'}", f"--vocab_file={zhwiki_slice / 'vocab.txt'}",
            "--max_seq_length=64", "--max_predictions_per_seq=10", "--dupe_factor=1",
            "--noprogress"]
    ok, unknown, alone = run_apps([
        ("apps.pretrain.create_data", [*base, f"--output={zhwiki_slice / 'app'}",
                                       "--whole_word_mask", "--segmenter=jieba"]),
        ("apps.pretrain.create_data", [*base, f"--output={zhwiki_slice / 'bad'}",
                                       "--whole_word_mask", "--segmenter=ltp"]),
        ("apps.pretrain.create_data", [*base, f"--output={zhwiki_slice / 'bad'}",
                                       "--segmenter=jieba"]),
    ], expect_ok=False)
    assert ok.returncode == 0, ok.stderr[-2000:]
    stats = json.loads((zhwiki_slice / "app-stats.json").read_text(encoding="utf-8"))
    assert stats["config"]["segmenter"] == "jieba" and stats["instances"] > 100
    for result, message in ((unknown, "`segmenter` must be one of ('jieba',), got 'ltp'"),
                            (alone, "set `whole_word_mask`")):
        assert result.returncode != 0 and message in result.stderr, result.stderr[-2000:]
        assert "Traceback" not in result.stderr
    assert not list(zhwiki_slice.glob("bad*"))
