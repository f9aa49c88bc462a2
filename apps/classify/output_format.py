"""How classification predictions are shown: one line per text, or JSON lines."""

import json


def format_predictions(texts, outputs, metadata, as_json=False, pairs=None):
    """Lines to print for `texts` (and `pairs`) and the model's outputs: `label` and
    `probabilities` (classifiers, class names from `metadata`) or `score` (regression)."""
    lines = []
    pairs = pairs if pairs is not None else [None] * len(texts)
    if "score" in outputs:
        for text, pair, score in zip(texts, pairs, outputs["score"]):
            shown = text if pair is None else f"{text} ||| {pair}"
            lines.append(json.dumps({"text": text, **({"text_pair": pair} if pair else {}),
                                     "score": round(float(score), 6)}, ensure_ascii=False)
                         if as_json else f"{float(score):7.3f}  {shown}")
        return lines
    class_names = metadata["class_names"]
    for text, pair, label, probabilities in zip(texts, pairs, outputs["label"],
                                                outputs["probabilities"]):
        label = label.decode("utf-8")
        if as_json:
            lines.append(json.dumps({
                "text": text, **({"text_pair": pair} if pair else {}), "label": label,
                "probabilities": {n: round(float(p), 6) for n, p in zip(class_names,
                                                                         probabilities)}},
                ensure_ascii=False))
        else:
            confidence = float(probabilities[class_names.index(label)])
            shown = text if pair is None else f"{text} ||| {pair}"
            lines.append(f"{label:<10} {confidence:.3f}  {shown}")
    return lines
