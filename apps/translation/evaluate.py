"""Scores an exported translation model with sacreBLEU (BLEU, chrF).

    python -m apps.translation.evaluate --model_dir=saved_models/translation/1 \
        [--data=multi30k|tatoeba_zh_en|tfds:NAME|pairs.tsv] [--split=validation] \
        [--data_dir=../shared/data] [--direction=en-de] [--output=hypotheses.txt]

Only the SavedModel is used (loaded with `tensorflow` and `tensorflow_text`), as
a serving client would. `--data` defaults to the dataset the model was trained
on and `--direction` to its direction; a `.tsv` file holds
`source<TAB>reference` lines. Prints one JSON object: the scores, their
sacreBLEU signatures and the number of sentences.
"""

import json
import os
import sys

from absl import app, flags

from apps.translation.config import APP_NAME, DEFAULT_DATA_DIR, OUTPUT_KEY, REPO_ROOT
from apps.translation.data import SPLITS, load_pairs, parse_direction, read_tsv_pairs
from apps.translation.metrics import translation_metrics
from bertlab.data.readers import DataError
from bertlab.export import ExportedModel

flags.DEFINE_string("model_dir", str(REPO_ROOT / "saved_models" / APP_NAME),
                    "An exported version directory, or the base directory (latest version).")
flags.DEFINE_string("data", None, "Dataset name (multi30k, tatoeba_zh_en, tfds:NAME) or a "
                    "source<TAB>reference .tsv file; default: the training dataset.")
flags.DEFINE_enum("split", "validation", list(SPLITS), "Split of a named dataset.")
flags.DEFINE_string("data_dir", None, "Folder of the datasets (default ../shared/data).")
flags.DEFINE_string("direction", None, "Source-target languages (default: the model's).")
flags.DEFINE_integer("limit", None, "Score only the first N sentence pairs.")
flags.DEFINE_integer("batch_size", 64, "Sentences per call of the model.")
flags.DEFINE_string("output", None, "Also write the translations here, one per line.")
FLAGS = flags.FLAGS


def translate(model, sources, batch_size):
    """Translations of `sources` by the exported model (batched by length)."""
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    outputs = model.run([sources[i] for i in order], batch_size=batch_size)[OUTPUT_KEY]
    translations = [None] * len(sources)
    for i, text in zip(order, outputs):
        translations[i] = text.decode("utf-8", errors="replace")
    return translations


def run():
    model = ExportedModel(FLAGS.model_dir)
    metadata = model.metadata
    direction = FLAGS.direction or metadata.get("direction")
    if not direction:
        raise DataError("The export has no direction in its metadata: pass --direction.")
    _, target_language = parse_direction(direction)
    data = FLAGS.data or metadata.get("dataset")
    if data and data.endswith(".tsv"):
        sources, references = read_tsv_pairs(data)
        if FLAGS.limit:
            sources, references = sources[:FLAGS.limit], references[:FLAGS.limit]
    elif data:
        data_dir = os.path.abspath(FLAGS.data_dir) if FLAGS.data_dir else str(DEFAULT_DATA_DIR)
        sources, references = load_pairs(data, FLAGS.split, direction, data_dir, FLAGS.limit)
    else:
        raise DataError("Pass --data (a dataset name or a .tsv file).")
    translations = translate(model, sources, FLAGS.batch_size)
    if FLAGS.output:
        tmp = FLAGS.output + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(t.replace("\n", " ") + "\n" for t in translations)
        os.replace(tmp, FLAGS.output)
    scores = translation_metrics(translations, references, target_language)
    result = {"model": model.path, "data": data, "split": FLAGS.split, "direction": direction,
              "sentences": len(sources), **scores}
    print(json.dumps(result, ensure_ascii=False))
    return result


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    try:
        run()
    except (DataError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    app.run(main)
