"""Traditional Chinese characters as aliases of the simplified ones a vocabulary holds.

`traditional_aliases(vocabulary)` lists, for a vocabulary learned from
simplified text, every traditional (or variant) ideograph that OpenCC's
`t2s` conversion turns into one simplified character of the vocabulary while
the vocabulary lacks it itself: `{"這": "这", "國": "国", ...}`.
`bertlab.models.with_token_aliases` then appends those characters as tokens
that share their simplified form's embedding, so traditional text is read as
simplified without a conversion step at tokenization time.

OpenCC (`pip install OpenCC`, in bertlab's `zh` extra) is the well-kept
converter; its character table is applied one character at a time (its phrase
table would need words, and a token is one character).

Example:
>>> traditional_aliases(["[UNK]", "这", "国", "中"])
{'這': '这', '國': '国'}
"""

from bertlab.text.bert_tokenizer import _CJK_RANGES


def _converter():
    try:
        # deferred: an optional package (the zh extra), needed only to build aliases
        import opencc
    except ImportError as e:
        raise ImportError("Traditional aliases need OpenCC: pip install 'bertlab[zh]' "
                          f"(or pip install OpenCC): {e}") from e
    return opencc.OpenCC("t2s")


def traditional_aliases(vocabulary, ranges=_CJK_RANGES):
    """`{traditional character: simplified character}` for the ideographs of
    `ranges` (default: every CJK range BERT's tokenizer splits) that are not in
    `vocabulary` (a token list) and whose OpenCC `t2s` form is one character
    that is."""
    tokens = set(vocabulary)
    convert = _converter().convert
    aliases = {}
    for lo, hi in ranges:
        for code in range(lo, hi + 1):
            char = chr(code)
            if char in tokens:
                continue
            simplified = convert(char)
            if len(simplified) == 1 and simplified != char and simplified in tokens:
                aliases[char] = simplified
    return aliases
