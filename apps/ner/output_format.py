"""How NER predictions are shown: entities read from BIO tags, bracketed text or JSON."""

import json


def entities(words, tags):
    """`[(type, first word index, last word index, text)]` read from BIO tags (seqeval's way)."""
    spans, start, kind = [], None, None
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, _, tag_type = tag.partition("-")
        continues = prefix == "I" and tag_type == kind
        if start is not None and not continues:
            spans.append((kind, start, i - 1, " ".join(words[start:i])))
            start, kind = None, None
        if prefix in ("B", "I") and not continues:
            start, kind = i, tag_type
    return spans


def format_prediction(words, tags, as_json=False):
    """One printable line (or JSON object) for a tagged text."""
    found = entities(words, tags)
    if as_json:
        return json.dumps({"tokens": words, "tags": tags,
                           "entities": [{"type": k, "start": s, "end": e, "text": t}
                                        for k, s, e, t in found]}, ensure_ascii=False)
    marked = list(words)
    for kind, start, end, _ in found:
        marked[start] = "[" + marked[start]
        marked[end] = marked[end] + "]" + kind
    listing = "; ".join(f"{k}: {t}" for k, _, _, t in found) or "no entities"
    return f"{' '.join(marked)}\n    {listing}"
