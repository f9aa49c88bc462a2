"""Continues prompts with a trained language model.

    python -m apps.lm.generate "It was a dark and stormy night" [more prompts ...]
        [--model_dir=saved_models/lm] [--method=sample|greedy|beam] [--max_new_tokens=64]
        [--temperature=0.8] [--top_k=40] [--top_p=0.95] [--repetition_penalty=1.2]
        [--no_repeat_ngram_size=3] [--beam_width=4] [--seed=0] [--json]
    echo "Once upon a time" | python -m apps.lm.generate

Prompts come from the arguments, else from stdin (one per line); an empty
prompt ("") starts a new document. Decoding settings default to the export's
(its metadata), each flag overrides one; a prompt longer than the context
window minus `--max_new_tokens` keeps its last tokens. The model is the
export's Keras model and SentencePiece model (the files that `--init` also
reads), run in this process, so that any decoding setting can be chosen;
servers use the SavedModel's `serving_default` and `generate` signatures.
Prints each completion (the prompt not repeated) on its own line, newlines
kept inside; `--json`: one JSON object per prompt.
"""

import dataclasses
import json

from absl import app, flags

from apps.lm.config import APP_NAME, REPO_ROOT
from bertlab.config import ConfigError
from bertlab.decoding import DecodingConfig
from bertlab.export import read_texts
from bertlab.export.language_model_export import LanguageModelModule
from bertlab.export.versioned_export import read_metadata
from bertlab.export.saved_model_client import resolve_version_dir
from bertlab.tasks import seq2seq_cli
from bertlab.tasks.language_modeling import load_trained_language_model

flags.DEFINE_string("model_dir", str(REPO_ROOT / "saved_models" / APP_NAME),
                    "An exported version directory, or the base directory (latest version).")
flags.DEFINE_enum("method", None, ["sample", "greedy", "beam"], "Decoding method.")
flags.DEFINE_integer("max_new_tokens", None, "Most new tokens per prompt.")
flags.DEFINE_float("temperature", None, "Sampling temperature (> 0).")
flags.DEFINE_integer("top_k", None, "Sample from the k most probable tokens (0 = off).")
flags.DEFINE_float("top_p", None, "Nucleus sampling: smallest set of tokens with this "
                   "probability (1.0 = off).")
flags.DEFINE_float("repetition_penalty", None, "CTRL repetition penalty (1.0 = off).")
flags.DEFINE_integer("no_repeat_ngram_size", None, "Never repeat an n-gram of this size "
                     "(0 = off).")
flags.DEFINE_integer("beam_width", None, "Beam width (--method=beam).")
flags.DEFINE_integer("seed", None, "Sampling seed (the same seed gives the same text).")
flags.DEFINE_integer("batch_size", 8, "Prompts per model call.")
flags.DEFINE_bool("json", False, "Print JSON lines instead of text.")
FLAGS = flags.FLAGS

FLAG_FIELDS = {"method": "method", "max_new_tokens": "max_length", "temperature": "temperature",
               "top_k": "top_k", "top_p": "top_p", "repetition_penalty": "repetition_penalty",
               "no_repeat_ngram_size": "no_repeat_ngram_size", "beam_width": "beam_width",
               "seed": "seed"}


def decoding_from_flags(metadata):
    """The export's decoding settings with the flags' overrides (a bad value is a
    `ConfigError` naming it)."""
    settings = dict(metadata.get("decoding") or {})
    known = {f.name for f in dataclasses.fields(DecodingConfig)}
    settings = {k: v for k, v in settings.items() if k in known}
    for flag, field in FLAG_FIELDS.items():
        if FLAGS[flag].value is not None:
            settings[field] = FLAGS[flag].value
    settings["min_length"] = min(settings.get("min_length", 0), settings.get("max_length", 64))
    try:
        return DecodingConfig(**settings)
    except ValueError as e:
        raise ConfigError(f"Decoding settings: {e}") from None


def run(args):
    prompts = read_texts(args)
    if not prompts:
        raise ConfigError("No prompts given (as arguments or on stdin).")
    directory = resolve_version_dir(FLAGS.model_dir)
    metadata = read_metadata(directory)
    decoding = decoding_from_flags(metadata)
    model, tokenizer = load_trained_language_model(directory)
    try:
        module = LanguageModelModule(model, tokenizer, decoding,
                                     metadata.get("score_stride", model.max_sequence_length))
    except ValueError as e:  # e.g. more new tokens than the context window
        raise ConfigError(str(e)) from None
    completions = module.complete_texts(prompts, FLAGS.batch_size)
    for prompt, completion in zip(prompts, completions):
        if FLAGS.json:
            print(json.dumps({"prompt": prompt, "completion": completion}, ensure_ascii=False))
        else:
            print(completion)
    return completions


def main(argv):
    seq2seq_cli.run_main(argv[:1], lambda: run(argv[1:]),
                         (ConfigError, FileNotFoundError) + seq2seq_cli.EVALUATE_ERRORS)


if __name__ == "__main__":
    app.run(main)
