"""Chinese words for whole-word masking: a segmenter, and which tokens continue a word.

BERT's tokenizer makes every CJK ideograph a token of its own, so WordPiece
whole-word masking masks Chinese one character at a time. Chinese BERT-wwm
(Cui et al. 2019, "Pre-Training with Whole Word Masking for Chinese BERT")
masks whole words instead, words from a segmenter (LTP there): the tokens of
one word are chosen together. Here the segmenter is jieba (`pip install
"bertlab[zh]"`), its default accurate mode with HMM discovery of new words.

`word_continuations` aligns a segmenter's words with the tokens by character
offsets: token k continues a word when its first character lies in the same
segmenter word as the first character of token k-1. A WordPiece `##` piece
always continues its word (the masking code sees to that), so a Latin word
inside Chinese text is also whole; a segmenter word never cuts a WordPiece
word, since tokens are grouped, not split.

Example:
>>> segment = make_segmenter("jieba")
>>> segment("我爱北京天安门")
['我', '爱', '北京', '天安门']
>>> word_continuations("我爱北京天安门", [0, 1, 2, 3, 4, 5, 6], segment)
[False, False, False, True, False, True, True]
"""

import bisect

SEGMENTERS = ("jieba",)


def make_segmenter(name):
    """A function `str -> list of str` (the words, which concatenate to the text).

    Args:
      name: one of `SEGMENTERS`.

    Raises:
      ValueError: naming `name` when it is unknown, or when its package is not
        installed.
    """
    if name not in SEGMENTERS:
        raise ValueError(f"`segmenter` must be one of {SEGMENTERS}, got {name!r}.")
    try:
        # deferred: jieba is optional (the `zh` extra) and loads its dictionary on import.
        import jieba
    except ImportError:
        raise ValueError("The jieba segmenter is not installed: pip install 'bertlab[zh]' "
                         "(or jieba).") from None
    jieba.setLogLevel(60)  # no "Building prefix dict..." lines
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return lambda text: tokenizer.lcut(text)


def word_continuations(text, token_starts, segment):
    """Whether each token continues the segmenter word of the token before it.

    Args:
      text: the sentence (`str`).
      token_starts: the code-point start of each token in `text` (non-decreasing,
        as `bertlab.text.tokenize_with_offsets` gives them).
      segment: a segmenter (`make_segmenter`).

    Returns:
      list of bool, one per token; the first token never continues.
    """
    ends = []
    position = 0
    for word in segment(text):
        position += len(word)
        ends.append(position)
    word_of = [bisect.bisect_right(ends, start) for start in token_starts]
    return [k > 0 and word_of[k] == word_of[k - 1] for k in range(len(word_of))]
