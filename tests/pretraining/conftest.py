"""Shared pretraining fixtures: a small real-text slice (WikiText-2 valid), a
vocabulary learned from it, and pretraining data created from it."""

import pytest

from bertlab.pretraining import corpus, pretraining_data, vocabulary_learning
from bertlab.text import save_vocabulary

SLICE_LINES = 400  # the first 6 WikiText-2 validation articles, ~22k words


@pytest.fixture(scope="session")
def wikitext_file(data_dir, tmp_path_factory):
    lines = (data_dir / "wikitext2" / "valid.txt").read_text(encoding="utf-8").splitlines()
    path = tmp_path_factory.mktemp("corpus") / "wiki.txt"
    path.write_text("\n".join(lines[:SLICE_LINES]) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def wikitext_sentences(wikitext_file):
    return [s for doc in corpus.read_documents([str(wikitext_file)], "wikitext") for s in doc]


@pytest.fixture(scope="session")
def vocab_file(wikitext_sentences, tmp_path_factory):
    tokens = vocabulary_learning.learn_vocabulary_from_lines(wikitext_sentences, vocab_size=1000)
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    save_vocabulary(tokens, str(path))
    return path


def make_data(wikitext_file, vocab_file, out_dir, **overrides):
    settings = dict(max_seq_length=128, max_predictions_per_seq=20, dupe_factor=2,
                    input_format="wikitext", num_shards=2, random_seed=7)
    settings.update(overrides)
    config = pretraining_data.PretrainingDataConfig(**settings)
    prefix = str(out_dir / "pt")
    stats = pretraining_data.create_pretraining_data(str(wikitext_file), str(vocab_file), prefix,
                                                     config)
    examples = [e for path in stats["files"] for e in pretraining_data.read_examples(path)]
    return prefix, stats, examples


@pytest.fixture(scope="session")
def pretraining_files(wikitext_file, vocab_file, tmp_path_factory):
    """(prefix, stats, examples) with BERT's default masking, 2 shards."""
    return make_data(wikitext_file, vocab_file, tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def whole_word_files(wikitext_file, vocab_file, tmp_path_factory):
    return make_data(wikitext_file, vocab_file, tmp_path_factory.mktemp("wwm"),
                     whole_word_mask=True, max_seq_length=64, num_shards=1)
