"""Translation metrics: sacreBLEU's BLEU and chrF on detokenized text.

Hypotheses are the exported model's detokenized output and references the raw
reference text, so scores are comparable with published sacreBLEU numbers; the
signature says exactly how they were computed (BLEU: case-sensitive, `13a`
tokenization, or `zh` when the target is Chinese).
"""

import sacrebleu


def bleu_tokenizer_for(target_language):
    return "zh" if target_language == "zh" else "13a"


def translation_metrics(hypotheses, references, target_language="de"):
    """Corpus BLEU and chrF (sacrebleu) with their signatures.

    Args:
      hypotheses: list of `str`; references: list of `str` (one per hypothesis).

    Returns:
      `{"bleu", "chrf", "bleu_signature", "chrf_signature"}`.
    """
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references.")
    if not hypotheses:
        raise ValueError("No hypotheses to score.")
    bleu = sacrebleu.metrics.BLEU(tokenize=bleu_tokenizer_for(target_language))
    chrf = sacrebleu.metrics.CHRF()
    bleu_score = bleu.corpus_score(hypotheses, [references])
    chrf_score = chrf.corpus_score(hypotheses, [references])
    return {"bleu": float(bleu_score.score), "chrf": float(chrf_score.score),
            "bleu_signature": str(bleu.get_signature()),
            "chrf_signature": str(chrf.get_signature())}
