r"""Turns a pretraining export into a checkpoint to commit: bf16 weights, traditional
characters as aliases, a model card, and reference outputs that a test compares every later
load against.

    python -m apps.pretrain.release_checkpoint --export_dir=runs/pretrain/zhwiki_mini/export \
        --output=bertlab/pretrained/bertlab-zh-mini --card=docs/bertlab-zh-mini.md \
        --traditional_aliases

With `--traditional_aliases` (needs OpenCC, the `zh` extra), every traditional
character whose simplified form is a token becomes a token sharing that
embedding (`bertlab.text.chinese_script`, `bertlab.models.with_token_aliases`):
traditional text (DRCD, Tatoeba) is then read as simplified.

Writes, atomically (a temporary sibling renamed into place), the Hugging Face
layout (`config.json`, `model.safetensors` in `--weights_dtype`, `vocab.txt`,
`tokenizer_config.json`), the export's `summary.json` facts in
`bertlab_release.json`, `README.md` (the `--card` file, if given) and
`reference_outputs.npz`: the encoder's float32 `sequence_output` and
`pooled_output` for `--reference_texts`, computed from the released (bf16)
weights, so a test can prove that a fresh clone loads exactly what was released.
"""

import json
import os
import shutil
import sys

import numpy as np
from absl import app, flags, logging

from bertlab.models import BertEncoder, CheckpointError, with_token_aliases
from bertlab.models.bert_checkpoint import write_bert_checkpoint
from bertlab.storage import replace_directory
from bertlab.text import BertPreprocessor, VocabularyError
from bertlab.text.bert_preprocessor import read_lowercase_flag
from bertlab.text.chinese_script import traditional_aliases
from bertlab.text.vocabulary import load_vocabulary

REFERENCE_FILE = "reference_outputs.npz"
RELEASE_FILE = "bertlab_release.json"
DEFAULT_TEXTS = ("北京是中华人民共和国的首都。", "这部电影的剧情很感人，演员的表演也非常出色！",
                 "這部電影的劇情很感人。", "The 2008 Summer Olympics were held in Beijing.")

flags.DEFINE_string("export_dir", None, "A pretraining export (Hugging Face layout).")
flags.DEFINE_string("output", None, "Directory to write (replaced if it exists).")
flags.DEFINE_enum("weights_dtype", "bfloat16", ["bfloat16", "float32"],
                  "Dtype of the released weights.")
flags.DEFINE_bool("traditional_aliases", False,
                  "Append traditional characters as aliases of their simplified tokens.")
flags.DEFINE_string("card", None, "A Markdown model card copied to README.md.")
flags.DEFINE_string("summary", None, "The run's summary.json (default: next to --export_dir).")
flags.DEFINE_multi_string("reference_texts", list(DEFAULT_TEXTS),
                          "Texts whose outputs are stored in reference_outputs.npz.")
flags.DEFINE_integer("reference_sequence_length", 32, "Sequence length of the reference.")
FLAGS = flags.FLAGS


def reference_outputs(model_dir, texts, sequence_length):
    """`{texts, sequence_length, token_ids, sequence_output, pooled_output}` of the
    checkpoint in `model_dir` (float32 outputs, padded positions included)."""
    preprocessor = BertPreprocessor.from_pretrained(model_dir, sequence_length=sequence_length)
    inputs = preprocessor(np.array(texts, dtype=object))
    outputs = BertEncoder.from_pretrained(model_dir)(inputs)
    return {"texts": np.array(texts, dtype=str), "sequence_length": np.int32(sequence_length),
            "token_ids": np.asarray(inputs["token_ids"]),
            "sequence_output": np.asarray(outputs["sequence_output"], dtype=np.float32),
            "pooled_output": np.asarray(outputs["pooled_output"], dtype=np.float32)}


def _release_facts(summary_path):
    if not summary_path or not os.path.isfile(summary_path):
        return {}
    with open(summary_path, encoding="utf-8") as f:
        summary = json.load(f)
    # the run summary without the paths of the machine that trained it
    return {k: v for k, v in summary.items()
            if k not in ("export", "export_fingerprint", "latest_checkpoint")}


def release(export_dir, output, weights_dtype="bfloat16", card=None, summary_path=None,
            texts=DEFAULT_TEXTS, sequence_length=32, add_traditional_aliases=False):
    """Writes the release of `export_dir` into `output` (see the module doc); returns
    `output`'s absolute path."""
    output = os.path.abspath(output)
    encoder = BertEncoder.from_pretrained(export_dir)
    vocabulary = load_vocabulary(os.path.join(export_dir, "vocab.txt"))
    lowercase = read_lowercase_flag(export_dir)
    facts = {"source": os.fspath(export_dir), "weights_dtype": weights_dtype,
             "traditional_aliases": 0}
    if add_traditional_aliases:
        aliases = traditional_aliases(vocabulary)
        encoder, vocabulary = with_token_aliases(encoder, vocabulary, aliases)
        facts["traditional_aliases"] = len(aliases)

    def write(staged):
        write_bert_checkpoint(encoder, staged, vocabulary, lowercase, weights_dtype)
        np.savez(os.path.join(staged, REFERENCE_FILE),
                 **reference_outputs(staged, list(texts), sequence_length))
        facts.update(_release_facts(summary_path))
        with open(os.path.join(staged, RELEASE_FILE), "w", encoding="utf-8") as f:
            json.dump(facts, f, indent=2, ensure_ascii=False)
        if card:
            shutil.copyfile(card, os.path.join(staged, "README.md"))

    replace_directory(output, write, replaceable=("model.safetensors",))
    return output


def main(argv):
    if len(argv) > 1:
        sys.exit(f"Unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS.export_dir or not FLAGS.output:
        sys.exit("--export_dir and --output are required.")
    summary = FLAGS.summary or os.path.join(os.path.dirname(os.path.abspath(FLAGS.export_dir)),
                                            "summary.json")
    try:
        path = release(FLAGS.export_dir, FLAGS.output, FLAGS.weights_dtype, FLAGS.card, summary,
                       FLAGS.reference_texts, FLAGS.reference_sequence_length,
                       FLAGS.traditional_aliases)
    except (CheckpointError, VocabularyError, ImportError, OSError) as e:
        sys.exit(f"Error: {e}")
    size = os.path.getsize(os.path.join(path, "model.safetensors"))
    logging.info("Released %s (model.safetensors %.1f MB).", path, size / 1e6)


if __name__ == "__main__":
    app.run(main)
