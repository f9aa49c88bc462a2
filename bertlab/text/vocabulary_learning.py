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

Chinese (`cjk_min_count`): the tokenizer makes every CJK ideograph a word of
its own, so an ideograph needs exactly one token and never a `##` form or a
multi-character piece. With `cjk_min_count=N`, every ideograph that occurs at
least N times is a token (after the reserved tokens, most frequent first) and
the learner works on the other words with the rest of the budget, instead of
ideographs competing with Latin letters for the learner's `max_unique_chars`
alphabet and each taking two entries. Measured on the training split of
`../shared/data/zhwiki` (25M ideographs, 8,639 distinct): N=3 keeps 6,837
of them (N=5: 6,244), and with `vocab_size=21128` gives 20,580 tokens that
cover 99.91-99.99% of the characters of the simplified-Chinese data sets
(CMRC 2018, THUCNews titles, Chinese STS-B, CSL); N=5 leaves CSL at 99.89%
and CMRC at 99.92%. That text is simplified only (converted with OpenCC),
so traditional characters are not in it (DRCD: 72.5% covered).

Example:
>>> counts = count_words(["The cat sat.", "The cats sat."], lowercase=True)
>>> vocab = learn_vocabulary(counts, vocab_size=40)
>>> vocab[:5]
['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
"""

import collections

import tensorflow as tf
from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner

from bertlab.text.bert_tokenizer import basic_tokenize, is_cjk_character
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
                     num_iterations=4, max_input_words=5_000_000, cjk_min_count=None):
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
      cjk_min_count: `None`, or N: every CJK ideograph counted at least N
        times is a token of its own, and the learner gets the other words and
        the rest of the budget (see the module docstring); rarer ideographs
        tokenize to `[UNK]`.

    Returns:
      list of tokens, reserved tokens first.

    Raises:
      ValueError: naming the argument, for an empty `word_counts`, a bad
        `vocab_size` or `cjk_min_count`, or when the reserved tokens, the
        ideographs kept and the alphabet alone need more than `vocab_size`
        entries.
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
    if cjk_min_count is not None:
        return _learn_with_cjk_characters(word_counts, int(vocab_size), reserved_tokens,
                                          int(cjk_min_count), min_frequency=min_frequency,
                                          max_unique_chars=max_unique_chars,
                                          max_token_length=max_token_length,
                                          num_iterations=num_iterations,
                                          max_input_words=max_input_words)

    vocab = learner.learn(
        word_counts, int(vocab_size), reserved_tokens,
        upper_thresh=int(1e7), lower_thresh=int(min_frequency),
        num_iterations=int(num_iterations), max_input_tokens=int(max_input_words),
        max_token_length=int(max_token_length), max_unique_chars=int(max_unique_chars),
        slack_ratio=0.05, include_joiner_token=True, joiner=CONTINUATION_PREFIX)
    return _fit_to_size(vocab, reserved_tokens, int(vocab_size))


def _learn_with_cjk_characters(word_counts, vocab_size, reserved_tokens, cjk_min_count,
                               **learn_kwargs):
    """Reserved tokens, the ideographs counted `cjk_min_count` times or more (most frequent
    first), then WordPiece learned from the other words in the budget left."""
    if cjk_min_count < 1:
        raise ValueError(f"`cjk_min_count` must be at least 1, got {cjk_min_count}.")
    cjk = sorted((w for w, c in word_counts.items() if is_cjk_character(w) and c >= cjk_min_count),
                 key=lambda w: (-word_counts[w], w))
    cjk = [w for w in cjk if w not in set(reserved_tokens)]
    others = {w: c for w, c in word_counts.items() if not is_cjk_character(w)}
    budget = vocab_size - len(cjk)
    if budget <= len(reserved_tokens) + (1 if others else 0):
        raise ValueError(
            f"`vocab_size`={vocab_size} is too small: {len(cjk)} CJK characters occur at least "
            f"`cjk_min_count`={cjk_min_count} times and the {len(reserved_tokens)} reserved "
            "tokens come first. Raise `vocab_size` or `cjk_min_count`.")
    learned = list(reserved_tokens)
    if others:
        learned = learn_vocabulary(others, budget, reserved_tokens=reserved_tokens,
                                   **learn_kwargs)
    taken = set(reserved_tokens) | set(cjk)
    return (list(reserved_tokens) + cjk
            + [t for t in learned[len(reserved_tokens):] if t not in taken])


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
