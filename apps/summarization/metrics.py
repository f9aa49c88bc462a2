"""Summarization metrics: ROUGE-1/2/L F1 with Google's `rouge-score`.

Each hypothesis is scored against each of its references and the best
reference counts (as in the SciTLDR paper); corpus scores are means over
examples, times 100. English uses rouge-score's tokenizer with the Porter
stemmer; Chinese is scored on characters (rouge-score's default tokenizer drops
everything that is not [a-z0-9]).
"""

import numpy as np
from rouge_score import rouge_scorer

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


class CharacterTokenizer:
    """rouge-score tokenizer for Chinese: every non-space character is a token."""

    def tokenize(self, text):
        return [c for c in text.lower() if not c.isspace()]


def rouge_scores(hypotheses, references, language="en"):
    """`{"rouge1", "rouge2", "rougeL"}`: mean best-reference F1 x 100.

    Args:
      hypotheses: list of `str`; references: list of lists of `str` (or of `str`).
      language: "en" (stemmed words) or "zh" (characters).
    """
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references.")
    if not hypotheses:
        raise ValueError("No hypotheses to score.")
    if language == "zh":
        scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), tokenizer=CharacterTokenizer())
    else:
        scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    totals = {name: [] for name in ROUGE_TYPES}
    for hypothesis, refs in zip(hypotheses, references):
        refs = [refs] if isinstance(refs, str) else list(refs)
        scores = scorer.score_multi(refs, hypothesis)
        for name in ROUGE_TYPES:
            totals[name].append(scores[name].fmeasure)
    return {name: 100.0 * float(np.mean(values)) for name, values in totals.items()}
