"""all-MiniLM-L6-v2 sentence embeddings through bertlab against sentence-transformers'."""

import numpy as np
import pytest
import tensorflow as tf

from bertlab.models import SentenceEmbedder
from bertlab.text import BertPreprocessor

MAX_SEQ_LENGTH = 256  # the checkpoint's sentence_bert_config.json


@pytest.fixture(scope="module")
def sts_sentences(data_dir):
    """20 sentences: both sides of every 150th STS Benchmark dev pair (captions, news,
    forums; README: tab-separated, the first 7 fields, quotes are literal)."""
    lines = (data_dir / "stsbenchmark" / "sts-dev.csv").read_text(encoding="utf-8").splitlines()
    rows = [line.split("\t")[:7] for line in lines[::150]]
    return [sentence for row in rows for sentence in row[5:7]]


def _reference_embeddings(model_dir, sentences):
    """sentence-transformers' embeddings, by the library when it is installed, otherwise by
    its definition for this checkpoint: Hugging Face's tokenizer and `AutoModel` on
    PyTorch, the mean over the attention mask, L2 normalised."""
    torch = pytest.importorskip("torch")
    try:
        import sentence_transformers
    except ImportError:
        sentence_transformers = None
    if sentence_transformers is not None:
        model = sentence_transformers.SentenceTransformer(model_dir, device="cpu")
        return model.encode(sentences, convert_to_numpy=True)
    transformers = pytest.importorskip("transformers")
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModel.from_pretrained(model_dir).eval()
    batch = tokenizer(sentences, padding=True, truncation=True, max_length=MAX_SEQ_LENGTH,
                      return_tensors="pt")
    with torch.no_grad():
        tokens = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(mean, p=2, dim=1).numpy()


def test_minilm_embeddings_match_sentence_transformers(minilm_dir, sts_sentences):
    expected = _reference_embeddings(minilm_dir, sts_sentences)
    preprocessor = BertPreprocessor.from_pretrained(minilm_dir, sequence_length=MAX_SEQ_LENGTH,
                                                    pad_to_longest=True)
    embedder = SentenceEmbedder.from_pretrained(minilm_dir)
    assert (embedder.pooling, embedder.normalize) == ("mean", True)
    ours = embedder(preprocessor(tf.constant(sts_sentences))).numpy()
    assert ours.shape == expected.shape == (20, 384)
    cosine = np.sum(ours * expected, -1) / (np.linalg.norm(ours, axis=-1) *
                                            np.linalg.norm(expected, axis=-1))
    print(f"cosine vs sentence-transformers: min {cosine.min():.7f}; "
          f"max abs difference {np.abs(ours - expected).max():.2e}")
    assert cosine.min() >= 0.9999
    np.testing.assert_allclose(np.linalg.norm(ours, axis=-1), 1.0, atol=1e-5)
