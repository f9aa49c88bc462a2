"""Exact match and F1 of extractive question answering: SQuAD v1.1 and CMRC 2018.

Both follow their official evaluation scripts, so that scores compare with
published ones; neither is available as a light, exact package (Hugging Face
`evaluate`'s `squad` metric wraps the same SQuAD code but pulls in `datasets`;
there is no packaged CMRC script).

SQuAD v1.1 (`evaluate-v1.1.py`, English): an answer is normalized (lower case,
`string.punctuation` removed, the articles a/an/the removed as whole words,
whitespace collapsed); EM is equality of normalized answers, F1 the harmonic
mean of precision and recall of the multiset of whitespace tokens in common.

CMRC 2018 (`cmrc2018_evaluate.py`, Chinese; also used for DRCD): the text is
lower-cased and stripped; `mixed_segmentation` makes every CJK ideograph
(U+4E00..U+9FA5) and every punctuation mark of the script's list its own token
and tokenizes the runs between them as words; F1 is computed from the longest
common *substring* (contiguous run) of the two token lists, after dropping that
punctuation; EM is equality after `remove_punctuation`. The script's marks are
the ASCII - : _ * ^ / \\ ~ ` + = and the Chinese ，。：？！“”；’《》·、「」（）－～『』;
not . , ? ! " ( ), not ‘, and not … (the list has ……, two characters, which no
single character equals): those stay, as in the script.

One departure, for CMRC: the script tokenizes the non-CJK runs with
`nltk.word_tokenize` (which needs nltk and its punkt data). Here a run is split
on whitespace into numbers with inner `.`/`,` ("3.14", "1,000"), runs of word
characters (letters of any script, digits, `_`) and single other characters.
That agrees with nltk on plain words, numbers and separate punctuation; it
differs on contractions ("don't": nltk "do", "n't"; here "don", "'", "t") and
abbreviations with periods ("u.s."). Pass `word_tokenize=nltk.word_tokenize`
to reproduce the script exactly.

For both, each question scores the best over its reference answers; a
question without a prediction scores 0 (the scripts print its id; here the
number missing is logged); the totals are percentages over all questions.

Example:
>>> squad_scores({"q1": "the Denver Broncos"}, examples)  # reference "Denver Broncos"
{'exact_match': 100.0, 'f1': 100.0, 'count': 1}
>>> cmrc_f1("北京大学", "北京大学图书馆")   # 4 of 7 characters: 2 * 4 / (4 + 7)
0.7272727272727273
"""

import collections
import re
import string

from absl import logging

# -- SQuAD v1.1 ---------------------------------------------------------------------------

_SQUAD_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text):
    """SQuAD's normalization: lower case, no punctuation, no articles, single spaces.

    >>> normalize_answer("The  Eiffel-Tower, Paris!")
    'eiffeltower paris'
    """
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _SQUAD_PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def squad_exact_match(prediction, reference):
    """1.0 when the normalized answers are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(reference))


def squad_f1(prediction, reference):
    """Token F1 of normalized answers: overlap counted as a multiset (0 when none).

    >>> squad_f1("the Denver Broncos team", "Broncos of Denver")  # 2 of 3 each way
    0.6666666666666666
    """
    prediction_tokens = normalize_answer(prediction).split()
    reference_tokens = normalize_answer(reference).split()
    common = collections.Counter(prediction_tokens) & collections.Counter(reference_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(prediction_tokens)
    recall = num_same / len(reference_tokens)
    return 2 * precision * recall / (precision + recall)


# -- CMRC 2018 ----------------------------------------------------------------------------

# The official script's `sp_char`, in its order. "……" is two characters and so never
# equals the single character it is compared with: "…" is not removed, as in the script.
_CMRC_PUNCTUATION = frozenset([
    "-", ":", "_", "*", "^", "/", "\\", "~", "`", "+", "=",
    "，", "。", "：", "？", "！", "“", "”", "；", "’", "《", "》", "……", "·", "、",
    "「", "」", "（", "）", "－", "～", "『", "』"])
_WORDS = re.compile(r"\d+(?:[.,]\d+)+|\w+|[^\w\s]")


def _is_cjk(char):
    # The script's `re.search(r'[\u4e00-\u9fa5]', char)`.
    return "\u4e00" <= char <= "\u9fa5"


def approximate_word_tokenize(text):
    """Stand-in for `nltk.word_tokenize` on the non-CJK runs (see the module docstring).

    >>> approximate_word_tokenize("CMRC 2018: 1,000 words (v1.5).")
    ['CMRC', '2018', ':', '1,000', 'words', '(', 'v1', '.', '5', ')', '.']
    """
    return _WORDS.findall(text)


def mixed_segmentation(text, remove_punc=False, word_tokenize=None):
    """CMRC 2018's tokens: one per CJK ideograph and punctuation mark, words between.

    Args:
      text: the answer; lower-cased and stripped first.
      remove_punc: drop the script's punctuation marks (F1 does). As in the
        script, a dropped mark does not end the current word ("a-b" -> "ab").
      word_tokenize: tokenizer of the runs between CJK characters and marks;
        `approximate_word_tokenize` by default, `nltk.word_tokenize` for the
        script's exact behaviour.

    Returns:
      A list of strings.

    >>> mixed_segmentation("2018年CMRC比赛")
    ['2018', '年', 'cmrc', '比', '赛']
    """
    word_tokenize = word_tokenize or approximate_word_tokenize
    tokens, run = [], ""
    for char in text.lower().strip():
        if remove_punc and char in _CMRC_PUNCTUATION:
            continue
        if _is_cjk(char) or char in _CMRC_PUNCTUATION:
            if run:
                tokens.extend(word_tokenize(run))
                run = ""
            tokens.append(char)
        else:
            run += char
    if run:
        tokens.extend(word_tokenize(run))
    return tokens


def remove_punctuation(text):
    """CMRC 2018's EM normalization: lower-cased, stripped, the script's marks removed.

    >>> remove_punctuation(" 《北京》大学。")
    '北京大学'
    """
    return "".join(ch for ch in text.lower().strip() if ch not in _CMRC_PUNCTUATION)


def longest_common_substring(first, second):
    """Length of the longest contiguous run shared by two sequences (the script's `find_lcs`).

    >>> longest_common_substring("abcde", "xbcdy")
    3
    """
    best = 0
    previous = [0] * (len(second) + 1)
    for a in first:
        current = [0] * (len(second) + 1)
        for j, b in enumerate(second):
            if a == b:
                current[j + 1] = previous[j] + 1
                best = max(best, current[j + 1])
        previous = current
    return best


def cmrc_exact_match(prediction, reference):
    """1.0 when the answers are equal after `remove_punctuation`, else 0.0."""
    return float(remove_punctuation(prediction) == remove_punctuation(reference))


def cmrc_f1(prediction, reference, word_tokenize=None):
    """F1 of the longest common run of `mixed_segmentation` tokens (punctuation dropped).

    >>> round(cmrc_f1("CMRC比赛", "2018年CMRC比赛"), 6)  # 3 of 3 and of 5: 2 * 3 / (3 + 5)
    0.75
    """
    prediction_tokens = mixed_segmentation(prediction, True, word_tokenize)
    reference_tokens = mixed_segmentation(reference, True, word_tokenize)
    common = longest_common_substring(reference_tokens, prediction_tokens)
    if common == 0:
        return 0.0
    precision = common / len(prediction_tokens)
    recall = common / len(reference_tokens)
    return 2 * precision * recall / (precision + recall)


# -- Totals -------------------------------------------------------------------------------

def _scores(predictions, examples, exact_match, f1, name):
    if not hasattr(predictions, "get"):
        raise TypeError(f"`predictions` must map question ids to answer texts, got "
                        f"{type(predictions).__name__}.")
    exact_total = f1_total = 0.0
    count, missing = 0, []
    for example in examples:
        count += 1
        references = tuple(example.answer_texts)
        if not references:
            raise ValueError(f"Question {example.id!r} has no reference answer.")
        if example.id not in predictions:
            missing.append(example.id)
            continue
        prediction = predictions[example.id]
        if not isinstance(prediction, str):
            raise TypeError(f"The prediction for question {example.id!r} must be a string, "
                            f"got {type(prediction).__name__} {prediction!r:.60}.")
        exact_total += max(exact_match(prediction, r) for r in references)
        f1_total += max(f1(prediction, r) for r in references)
    if count == 0:
        raise ValueError(f"{name}: no questions to score.")
    if missing:
        logging.warning("%s: %d of %d questions have no prediction and score 0 (first: %s).",
                        name, len(missing), count, ", ".join(missing[:5]))
    return {"exact_match": 100.0 * exact_total / count, "f1": 100.0 * f1_total / count,
            "count": count}


def squad_scores(predictions, examples):
    """SQuAD v1.1 exact match and F1 of predicted answers, as `evaluate-v1.1.py` gives them.

    Args:
      predictions: `{question id: predicted answer text}`; ids not among
        `examples` are ignored.
      examples: the questions (`QuestionExample`s, or anything with `id` and
        `answer_texts`).

    Returns:
      `{"exact_match": %, "f1": %, "count": number of questions}`; a question
      without a prediction counts, with 0.

    Raises:
      ValueError: no questions, or a question without references.
      TypeError: `predictions` is not a mapping or holds a non-string.
    """
    return _scores(predictions, examples, squad_exact_match, squad_f1, "SQuAD")


def cmrc_scores(predictions, examples, word_tokenize=None):
    """CMRC 2018 exact match and F1 (character level), as `cmrc2018_evaluate.py` gives them.

    Arguments, result and errors as `squad_scores`; `word_tokenize` as in
    `mixed_segmentation` (the default approximates nltk's).
    """
    def f1(prediction, reference):
        return cmrc_f1(prediction, reference, word_tokenize)

    return _scores(predictions, examples, cmrc_exact_match, f1, "CMRC 2018")
