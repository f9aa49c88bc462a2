"""How sentiment predictions are shown: one line per text, or JSON lines."""

import json


def format_predictions(texts, outputs, class_names, as_json=False):
    """Lines to print for `texts` and the model's `label`/`probabilities` outputs."""
    lines = []
    for text, label, probabilities in zip(texts, outputs["label"], outputs["probabilities"]):
        label = label.decode("utf-8")
        if as_json:
            lines.append(json.dumps({
                "text": text, "label": label,
                "probabilities": {n: round(float(p), 6) for n, p in zip(class_names,
                                                                         probabilities)}},
                ensure_ascii=False))
        else:
            confidence = float(probabilities[class_names.index(label)])
            lines.append(f"{label:<10} {confidence:.3f}  {text}")
    return lines
