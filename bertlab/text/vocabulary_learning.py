"""Learning a WordPiece vocabulary from text.

Words come from bertlab's own basic tokenizer (`bertlab.text.basic_tokenize`:
BERT's cleaning, optional lower-casing and accent stripping, punctuation
splitting, one token per CJK character), so the learned vocabulary agrees with
the `BertTokenizer` that will use it. The subwords are learned by
tensorflow-text's WordPiece learner (`tensorflow_text.tools.wordpiece_vocab`,
the bottom-up algorithm of `bert_vocab_from_dataset`): it binary-searches a
count threshold so that the vocabulary is close to, and at most, `vocab_size`.

The result lists the reserved tokens first (`[PAD]` is id 0), then every
single character of the kept alphabet, then the learned word pieces
(continuations prefixed `##`) from most to least frequent.

Example:
>>> counts = count_words(["The cat sat.", "The cats sat."], lowercase=True)
>>> vocab = learn_vocabulary(counts, vocab_size=40)
>>> vocab[:5]
['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
"""

import collections

import tensorflow as tf
from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner

from bertlab.text.bert_tokenizer import basic_tokenize
from bertlab.text.vocabulary import SPECIAL_TOKENS

DEFAULT_RESERVED_TOKENS = SPECIAL_TOKENS  # [PAD], [UNK], [CLS], [SEP], [MASK]
CONTINUATION_PREFIX = "##"


def count_words(lines, lowercase=True, batch_size=1024):
    """Counts BERT words (after basic tokenization) in an iterable of strings.

    Args:
      lines: iterable of `str` (streamed in batches of `batch_size`).
      lowercase: lower-case and strip accents, as the tokenizer will.
      batch_size: strings tokenized per call of the in-graph tokenizer.

    Returns:
      `collections.Counter` mapping word (`str`) to count.
    """
    split = tf.function(lambda text: basic_tokenize(text, lowercase=lowercase).flat_values,
                        input_signature=[tf.TensorSpec([None], tf.string)])
    counts = collections.Counter()
    batch = []

    def flush():
        words = split(tf.constant(batch, dtype=tf.string)).numpy()
        counts.update(words.tolist())
        batch.clear()

    for line in lines:
        batch.append(line)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return collections.Counter({w.decode("utf-8"): c for w, c in counts.items()})


def learn_vocabulary(word_counts, vocab_size, reserved_tokens=DEFAULT_RESERVED_TOKENS,
                     min_frequency=2, max_unique_chars=1000, max_token_length=50,
                     num_iterations=4, max_input_words=5_000_000):
    """Learns a WordPiece vocabulary of at most `vocab_size` tokens.

    Args:
      word_counts: mapping word -> count (see `count_words`).
      vocab_size: the largest vocabulary wanted (reserved tokens included).
      reserved_tokens: tokens placed first, in order (`[PAD]` first gives it
        id 0).
      min_frequency: the lowest count threshold the learner searches down to;
        pieces rarer than the threshold found are not added.
      max_unique_chars: the alphabet size; words with rarer characters are
        not learned from (they tokenize to `[UNK]`).
      max_token_length: longer words are not learned from.
      num_iterations: refinement iterations of the learner.
      max_input_words: the most frequent words learned from.

    Returns:
      list of tokens, reserved tokens first.

    Raises:
      ValueError: naming the argument, for an empty `word_counts`, a bad
        `vocab_size`, or when the reserved tokens and the alphabet alone need
        more than `vocab_size` entries.
    """
    reserved_tokens = list(reserved_tokens)
    if len(set(reserved_tokens)) != len(reserved_tokens):
        raise ValueError(f"`reserved_tokens` has duplicates: {reserved_tokens}.")
    if int(vocab_size) <= len(reserved_tokens):
        raise ValueError(
            f"`vocab_size`={vocab_size} must exceed the {len(reserved_tokens)} reserved tokens.")
    if int(min_frequency) < 1:
        raise ValueError(f"`min_frequency` must be at least 1, got {min_frequency}.")
    word_counts = {w: int(c) for w, c in dict(word_counts).items() if w and c > 0}
    if not word_counts:
        raise ValueError("`word_counts` is empty: there is no text to learn a vocabulary from.")

    vocab = learner.learn(
        word_counts, int(vocab_size), reserved_tokens,
        upper_thresh=int(1e7), lower_thresh=int(min_frequency),
        num_iterations=int(num_iterations), max_input_tokens=int(max_input_words),
        max_token_length=int(max_token_length), max_unique_chars=int(max_unique_chars),
        slack_ratio=0.05, include_joiner_token=True, joiner=CONTINUATION_PREFIX)
    return _fit_to_size(vocab, reserved_tokens, int(vocab_size))


def _fit_to_size(vocab, reserved_tokens, vocab_size):
    """Drops the rarest learned pieces when the learner's threshold search ended
    above `vocab_size`; every character and its `##` form is always kept so any
    word of the alphabet still tokenizes."""
    if len(vocab) <= vocab_size:
        return vocab
    reserved = set(reserved_tokens)
    chars = [t for t in vocab if t not in reserved and len(t) == 1]
    required = set(reserved_tokens) | set(chars) | {CONTINUATION_PREFIX + c for c in chars}
    required = {t for t in required if t in set(vocab)}
    if len(required) > vocab_size:
        raise ValueError(
            f"`vocab_size`={vocab_size} is too small: the reserved tokens and the alphabet "
            f"({len(chars)} characters, with their '##' forms) need {len(required)} entries. "
            "Raise `vocab_size` or lower `max_unique_chars`.")
    budget = vocab_size - len(required)
    kept = []
    for token in vocab:
        if token in required:
            kept.append(token)
        elif budget > 0:
            kept.append(token)
            budget -= 1
    return kept


def learn_vocabulary_from_lines(lines, vocab_size, lowercase=True,
                                reserved_tokens=DEFAULT_RESERVED_TOKENS, **learn_kwargs):
    """`count_words` then `learn_vocabulary`; raises `ValueError` on text with no words."""
    counts = count_words(lines, lowercase=lowercase)
    if not counts:
        raise ValueError("The corpus is empty: no words to learn a vocabulary from.")
    return learn_vocabulary(counts, vocab_size, reserved_tokens=reserved_tokens, **learn_kwargs)
