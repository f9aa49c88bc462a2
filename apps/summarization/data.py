"""Reading summarization examples: SciTLDR, CSL titles, prepared TFDS datasets, TSV files.

Every reader returns `SummarizationExamples`: the source texts, their
references (a list per example: SciTLDR's validation set has up to four TLDRs)
and the first sentence of each source (the extractive baseline).

- `scitldr`: JSON Lines `train.jsonl`, `dev.jsonl` with `source` (list of
  sentences, joined with spaces) and `target` (list of TLDRs).
- `csl_ts`: `dev.tsv` with `to title<TAB>abstract<TAB>title`; the official train
  split is not shipped, so the first rows train and the last
  `csl_validation_size` rows validate.
- `tfds:<name>`: a prepared TFDS dataset with `source_feature`/`target_feature`.
- a `.tsv` path (for `evaluate`): `source<TAB>reference[<TAB>reference...]`.
"""

import dataclasses
import json
import os
import re

from bertlab.data.readers import DataError, read_text_lines
from bertlab.data.tfds_sources import TFDS_PREFIX, is_tfds_source, load_tfds_text_pairs

SPLITS = ("train", "validation")
DATASETS = ("scitldr", "csl_ts")
_SENTENCE_END = re.compile(r"(?<=[。！？!?])|(?<=\.)(?=\s|[^\d\s])")


@dataclasses.dataclass
class SummarizationExamples:
    """Parallel lists: `sources` (str), `references` (list of str), `first_sentences` (str)."""

    sources: list
    references: list
    first_sentences: list

    def __len__(self):
        return len(self.sources)

    def head(self, limit):
        if not limit:
            return self
        return SummarizationExamples(self.sources[:limit], self.references[:limit],
                                     self.first_sentences[:limit])


def first_sentence(text):
    """The first sentence of a text (split after . ! ? 。！？), stripped."""
    text = text.strip()
    for match in _SENTENCE_END.finditer(text):
        if match.start() > 0:
            head = text[:match.start()].strip()
            if head:
                return head
    return text


def read_scitldr(path):
    sources, references, firsts = [], [], []
    for number, line in enumerate(read_text_lines(path), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{number}: not valid JSON ({e.msg}).") from None
        source, target = record.get("source"), record.get("target")
        if (not isinstance(source, list) or not source or not isinstance(target, list)
                or not target or not all(isinstance(t, str) for t in source + target)):
            raise DataError(f"{path}:{number}: needs non-empty string lists `source` and "
                            "`target`.")
        sources.append(" ".join(s.strip() for s in source))
        references.append([t.strip() for t in target])
        firsts.append(source[0].strip())
    if not sources:
        raise DataError(f"{path}: no examples.")
    return SummarizationExamples(sources, references, firsts)


def read_csl(path):
    sources, references = [], []
    for number, line in enumerate(read_text_lines(path), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise DataError(f"{path}:{number}: expected 3 tab-separated columns "
                            f"(prompt, abstract, title), got {len(fields)}.")
        sources.append(fields[1].strip())
        references.append([fields[2].strip()])
    if not sources:
        raise DataError(f"{path}: no examples.")
    return SummarizationExamples(sources, references, [first_sentence(s) for s in sources])


def read_tsv_examples(path):
    """`source<TAB>reference[<TAB>reference...]` lines."""
    sources, references = [], []
    for number, line in enumerate(read_text_lines(path), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise DataError(f"{path}:{number}: expected source<TAB>reference.")
        sources.append(fields[0])
        references.append(fields[1:])
    if not sources:
        raise DataError(f"{path}: no examples.")
    return SummarizationExamples(sources, references, [first_sentence(s) for s in sources])


def _tfds(name, split, data_dir, source_feature, target_feature):
    sources, targets = load_tfds_text_pairs(name, split, source_feature, target_feature,
                                            data_dir)
    return SummarizationExamples(sources, [[t] for t in targets],
                                 [first_sentence(s) for s in sources])


def load_examples(dataset, split, data_dir, limit=None, csl_validation_size=200,
                  source_feature="document", target_feature="summary"):
    """Reads a split of a summarization dataset (see the module docstring)."""
    if split not in SPLITS:
        raise DataError(f"`split` must be one of {SPLITS}, got {split!r}.")
    if is_tfds_source(dataset):
        examples = _tfds(dataset[len(TFDS_PREFIX):], split, data_dir, source_feature,
                         target_feature)
    elif dataset in DATASETS:
        directory = os.path.join(data_dir, dataset)
        if not os.path.isdir(directory):
            raise DataError(f"Dataset folder not found: {directory} (set --data_dir).")
        if dataset == "scitldr":
            name = "train.jsonl" if split == "train" else "dev.jsonl"
            examples = read_scitldr(os.path.join(directory, name))
        else:
            rows = read_csl(os.path.join(directory, "dev.tsv"))
            if not 0 < csl_validation_size < len(rows):
                raise DataError(f"`csl_validation_size` must be in (0, {len(rows)}), got "
                                f"{csl_validation_size}.")
            cut = len(rows) - csl_validation_size
            part = slice(0, cut) if split == "train" else slice(cut, None)
            examples = SummarizationExamples(rows.sources[part], rows.references[part],
                                             rows.first_sentences[part])
    else:
        raise DataError(f"Unknown dataset {dataset!r}: use one of {DATASETS} or "
                        f"'{TFDS_PREFIX}<name>'.")
    return examples.head(limit)
