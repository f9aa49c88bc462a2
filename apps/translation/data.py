"""Reading translation pairs: Multi30k, Tatoeba zh-en, prepared TFDS datasets, TSV files.

Datasets (under the data directory, see each folder's README):
- `multi30k`: line-aligned `train.{en,de}`, `val.{en,de}`; directions en-de, de-en.
- `tatoeba_zh_en`: `train.tsv`, `valid.tsv` with `english<TAB>chinese<TAB>attribution`;
  directions en-zh, zh-en.
- `tfds:<name>` (e.g. `tfds:wmt14_translate/de-en`): a TFDS translation dataset
  prepared in the TFDS data directory, features named by language code.
- a `.tsv` file path: `source<TAB>reference` lines (for `evaluate`).
"""

import os

from bertlab.data.readers import DataError, read_text_lines
from bertlab.data.tfds_sources import TFDS_PREFIX, is_tfds_source, load_tfds_text_pairs

SPLITS = ("train", "validation")
DIRECTIONS = {"multi30k": ("en-de", "de-en"), "tatoeba_zh_en": ("en-zh", "zh-en")}
_MULTI30K_FILES = {"train": "train", "validation": "val"}
_TATOEBA_FILES = {"train": "train.tsv", "validation": "valid.tsv"}


def parse_direction(direction):
    """"en-de" -> ("en", "de"), with a clear error for anything else."""
    parts = str(direction).split("-")
    if len(parts) != 2 or not all(p.isalpha() for p in parts) or parts[0] == parts[1]:
        raise DataError(f"`direction` must look like 'en-de', got {direction!r}.")
    return parts[0], parts[1]


def _multi30k(directory, split, source, target):
    stem = _MULTI30K_FILES[split]
    sources = read_text_lines(os.path.join(directory, f"{stem}.{source}"))
    targets = read_text_lines(os.path.join(directory, f"{stem}.{target}"))
    if len(sources) != len(targets):
        raise DataError(f"{directory}: {stem}.{source} has {len(sources)} lines but "
                        f"{stem}.{target} has {len(targets)}; they must be line-aligned.")
    return sources, targets


def _tatoeba(directory, split, source, target):
    path = os.path.join(directory, _TATOEBA_FILES[split])
    columns = {"en": 0, "zh": 1}
    sources, targets = [], []
    for number, line in enumerate(read_text_lines(path), start=1):
        fields = line.split("\t")
        if len(fields) < 2:
            raise DataError(f"{path}:{number}: expected english<TAB>chinese<TAB>attribution, "
                            f"got {line[:80]!r}.")
        sources.append(fields[columns[source]])
        targets.append(fields[columns[target]])
    return sources, targets


def read_tsv_pairs(path):
    """`source<TAB>reference` lines of a file -> (sources, references)."""
    sources, references = [], []
    for number, line in enumerate(read_text_lines(path), start=1):
        fields = line.split("\t")
        if len(fields) < 2:
            raise DataError(f"{path}:{number}: expected source<TAB>reference.")
        sources.append(fields[0])
        references.append(fields[1])
    if not sources:
        raise DataError(f"{path}: no sentence pairs.")
    return sources, references


def load_pairs(dataset, split, direction, data_dir, limit=None):
    """Reads `(sources, targets)` of a split, in file order.

    Args:
      dataset: "multi30k", "tatoeba_zh_en" or "tfds:<name>".
      split: "train" or "validation".
      direction: "<source>-<target>" language codes, e.g. "en-de".
      data_dir: the folder holding the dataset folders (for TFDS: the TFDS
        data directory, or None for TFDS' default).
      limit: keep only the first `limit` pairs.
    """
    if split not in SPLITS:
        raise DataError(f"`split` must be one of {SPLITS}, got {split!r}.")
    source, target = parse_direction(direction)
    if is_tfds_source(dataset):
        pairs = load_tfds_text_pairs(dataset[len(TFDS_PREFIX):], split, source, target,
                                     data_dir)
    elif dataset in DIRECTIONS:
        if direction not in DIRECTIONS[dataset]:
            raise DataError(f"Dataset {dataset!r} supports directions {DIRECTIONS[dataset]}, "
                            f"got {direction!r}.")
        directory = os.path.join(data_dir, dataset)
        if not os.path.isdir(directory):
            raise DataError(f"Dataset folder not found: {directory} (set --data_dir).")
        reader = _multi30k if dataset == "multi30k" else _tatoeba
        pairs = reader(directory, split, source, target)
    else:
        raise DataError(f"Unknown dataset {dataset!r}: use one of {sorted(DIRECTIONS)} or "
                        f"'{TFDS_PREFIX}<name>'.")
    sources, targets = pairs
    if limit:
        sources, targets = sources[:limit], targets[:limit]
    if not sources:
        raise DataError(f"Dataset {dataset!r} split {split!r} has no pairs.")
    return list(sources), list(targets)
