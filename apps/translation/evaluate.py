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

from absl import app, flags

from apps.translation.config import APP_NAME, DEFAULT_DATA_DIR, OUTPUT_KEY, REPO_ROOT
from apps.translation.data import SPLITS, load_pairs, parse_direction, read_tsv_pairs
from apps.translation.metrics import translation_metrics
from bertlab.data.readers import DataError
from bertlab.export import ExportedModel
from bertlab.tasks import seq2seq_cli

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
        data_dir = seq2seq_cli.data_dir_from_flags(DEFAULT_DATA_DIR)
        sources, references = load_pairs(data, FLAGS.split, direction, data_dir, FLAGS.limit)
    else:
        raise DataError("Pass --data (a dataset name or a .tsv file).")
    translations = seq2seq_cli.generate(model, sources, FLAGS.batch_size, OUTPUT_KEY)
    if FLAGS.output:
        seq2seq_cli.write_lines(FLAGS.output, translations)
    scores = translation_metrics(translations, references, target_language)
    result = {"model": model.path, "data": data, "split": FLAGS.split, "direction": direction,
              "sentences": len(sources), **scores}
    print(json.dumps(result, ensure_ascii=False))
    return result


def main(argv):
    seq2seq_cli.run_main(argv, run, seq2seq_cli.EVALUATE_ERRORS)


if __name__ == "__main__":
    app.run(main)
