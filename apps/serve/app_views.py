"""What the demo page shows for each served export: which card, its title, how to read it.

The server (`bertlab.serving`) knows no app: for `GET /demo/apps.json` it hands
each model's metadata (what the exporter wrote in `assets.extra`, unchanged)
and the names of its `serving_default` inputs and outputs to `describe`, and
lists `{"name", "version", **describe(...)}`. `static/app.js` reads these keys:

- `kind`: the card the model goes to ("sentiment", "classification", "ner",
  "question_answering", "ask_documents", "translation", "summarization",
  "language_model"; "other" for a model no card shows);
- `label`: its title (a translation's is its direction, "English → German");
- `class_names` (classifiers), `direction` (translation), `output` (the output
  to show when there is only one), `inputs` (a generic classifier's text inputs),
  `read_top` (documents an "ask_documents" index reads per question),
  `max_new_tokens` (the most new tokens a language model's `generate` allows),
  `settings` (the `generate` settings its card starts with: `max_new_tokens`,
  `temperature`, `top_k`, `top_p`, `seed`), `context_window` (its tokens).

An export's metadata may set `title` to name itself on the page.

Adding an app to the demo: a view function here, `view(metadata, inputs, outputs)`
returning its description (or None when the export is not of that kind), listed
in `VIEWS` before the more generic ones; a card in `static/index.html` (ids
`<kind>-card`, `-input`, `-run`, `-meta`, `-result`) and its wiring in
`static/app.js`. The extractive QA app is one: `question_answering_view` takes
exports with the inputs `question` and `context` (and the task, or the outputs
`answer`/`start`/`end`), and its card has two text boxes. A search index built
with a reader (`apps.search.index --reader`) goes to "Ask your documents"
(`ask_documents_view`): the card calls its `answer` signature and its
`serving_default` (the top documents). A language model (`apps.lm`) goes to
"Write with the language model" (`language_model_view`): the card calls its
`generate` signature with the settings typed in (columnar request: the
settings are scalars beside the prompt) and its `score_text`.

Example:
>>> describe({"task": "text_classification", "class_names": ["negative", "positive"]},
...          ["text"], ["label", "probabilities"])
{'kind': 'sentiment', 'label': 'Sentiment', 'class_names': ['negative', 'positive']}
"""

LANGUAGES = {"en": "English", "de": "German", "zh": "Chinese", "fr": "French",
             "cs": "Czech"}
# A classifier whose classes are all polarities goes to the sentiment card.
SENTIMENT_CLASSES = {"negative", "positive", "neutral"}
CLASSIFIER_TASKS = {"sentence_classification", "text_classification"}
CLASSIFIER_INPUTS = {"text", "text_pair"}
QA_INPUTS = ["context", "question"]  # sorted, as `describe` passes them
QA_OUTPUTS = {"answer", "start", "end"}
SEARCH_TASK = "search_index"
# The signatures the language-model card calls (`bertlab.export.language_model_export`).
LANGUAGE_MODEL_SIGNATURES = {"generate", "score_text"}
# `generate`'s integer settings; the others (`temperature`, `top_p`) are floats.
INTEGER_SETTINGS = ("max_new_tokens", "top_k", "seed")


def _class_names(metadata):
    names = metadata.get("class_names")
    return [str(n) for n in names] if isinstance(names, list) and names else None


def _is_classifier(metadata, inputs, outputs):
    """A raw-text classifier: a classifier task or `label` with `probabilities`/`score`
    outputs, taking `text` (and optionally `text_pair`)."""
    if "text" not in inputs or not set(inputs) <= CLASSIFIER_INPUTS:
        return False
    return metadata.get("task") in CLASSIFIER_TASKS or (
        "label" in outputs and bool({"probabilities", "score"} & set(outputs)))


def sentiment_view(metadata, inputs, outputs):
    """A one-text classifier into polarities ("negative", "positive", "neutral")."""
    if not _is_classifier(metadata, inputs, outputs) or list(inputs) != ["text"]:
        return None
    names = _class_names(metadata)
    if metadata.get("app") != "sentiment" and not (names and set(names) <= SENTIMENT_CLASSES):
        return None
    info = {"kind": "sentiment", "label": "Sentiment"}
    if names:
        info["class_names"] = names
    return info


def classification_view(metadata, inputs, outputs):
    """Any other text classifier: label with probabilities (or a score); one text, or a
    pair of texts (`text`, `text_pair`)."""
    if not _is_classifier(metadata, inputs, outputs):
        return None
    info = {"kind": "classification", "label": "Text classification",
            "inputs": list(inputs), "outputs": list(outputs)}
    names = _class_names(metadata)
    if names:
        info["class_names"] = names
    return info


def ner_view(metadata, inputs, outputs):
    """Words and their BIO entity tags."""
    if metadata.get("task") != "token_classification" and set(outputs) != {"tokens", "tags"}:
        return None
    return {"kind": "ner", "label": "Named entities"}


def question_answering_view(metadata, inputs, outputs):
    """A question and a context in; the answer, its score and its code-point offsets
    (`start`, `end`) in the context out (`apps.qa`). The card sends both texts, so the
    inputs must be exactly those two."""
    if list(inputs) != QA_INPUTS:
        return None
    if metadata.get("task") != "question_answering" and not QA_OUTPUTS <= set(outputs):
        return None
    return {"kind": "question_answering", "label": "Question answering"}


def ask_documents_view(metadata, inputs, outputs):
    """A search index with a reader (`bertlab.export.retrieve_then_read`): a question in,
    through its `answer` signature, the answer with its source document out; its
    `serving_default` (`query` -> `ids`, `scores`, `texts`) lists the top documents. The
    metadata must name the reader: the `answer` signature is not among `inputs`/`outputs`,
    which are `serving_default`'s."""
    if metadata.get("task") != SEARCH_TASK or not isinstance(metadata.get("reader"), dict) \
            or list(inputs) != ["query"]:
        return None
    info = {"kind": "ask_documents", "label": "Ask your documents"}
    if isinstance(metadata.get("read_top"), int):
        info["read_top"] = metadata["read_top"]
    return info


def translation_view(metadata, inputs, outputs):
    """Text in, text out in another language; `direction` ("en-de") names both."""
    if metadata.get("app") != "translation" and metadata.get("output_key") != "translation" \
            and set(outputs) != {"translation"}:
        return None
    info = {"kind": "translation", "label": "Translation"}
    direction = metadata.get("direction")
    if isinstance(direction, str) and "-" in direction:
        source, target = direction.split("-", 1)
        info["direction"] = direction
        info["label"] = (f"{LANGUAGES.get(source, source)} → "
                         f"{LANGUAGES.get(target, target)}")
    return info


def summarization_view(metadata, inputs, outputs):
    """Text in, a shorter text out."""
    if metadata.get("app") != "summarization" and metadata.get("output_key") != "summary" \
            and set(outputs) != {"summary"}:
        return None
    return {"kind": "summarization", "label": "Summarization"}


def _number(value, integer):
    """`value` if it is a JSON number (an integer for `integer`), else None."""
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        return None
    return value


def language_model_view(metadata, inputs, outputs):
    """A language model (`apps.lm`): a prompt in, its completion out (`serving_default`);
    the card calls its `generate` signature (the prompt, `max_new_tokens`, `temperature`,
    `top_k`, `top_p`, `seed`) and its `score_text`. The metadata must list those
    signatures (`LanguageModelModule.metadata`): they are not among `inputs`/`outputs`,
    which are `serving_default`'s. The card starts from the export's decoding settings
    (`decoding`, the config's; `generate` samples or, at temperature 0, is greedy: a
    greedy or beam export starts at 0) and as many new tokens as the export allows."""
    signatures = metadata.get("signatures")
    if list(inputs) != ["prompt"] or not isinstance(signatures, list) \
            or not LANGUAGE_MODEL_SIGNATURES <= set(signatures):
        return None
    info = {"kind": "language_model", "label": "Language model"}
    limit = _number(metadata.get("max_new_tokens"), integer=True)
    decoding = metadata.get("decoding") if isinstance(metadata.get("decoding"), dict) else {}
    settings = {"max_new_tokens": limit}
    settings.update({name: _number(decoding.get(name), name in INTEGER_SETTINGS)
                     for name in ("temperature", "top_k", "top_p", "seed")})
    if decoding.get("method") in ("greedy", "beam"):
        settings["temperature"] = 0.0
    if limit is not None:
        info["max_new_tokens"] = limit
    info["settings"] = {k: v for k, v in settings.items() if v is not None}
    window = _number(metadata.get("context_window"), integer=True)
    if window is not None:
        info["context_window"] = window
    return info


# In order: the first view that recognizes an export describes it.
VIEWS = [sentiment_view, classification_view, ner_view, question_answering_view,
         ask_documents_view, translation_view, summarization_view, language_model_view]


def describe(metadata, inputs, outputs):
    """The demo page's description of one export (the `describe` hook of
    `bertlab.serving.rest_server.create_app`).

    Args:
      metadata: the export's metadata (`bertlab.export.read_metadata`), `{}` if none.
      inputs: names of its `serving_default` inputs.
      outputs: names of its `serving_default` outputs.

    Returns:
      `{"kind", "label", ...}` (see the module docstring).
    """
    metadata = metadata if isinstance(metadata, dict) else {}
    inputs, outputs = sorted(inputs), sorted(outputs)
    info = next((found for found in (view(metadata, inputs, outputs) for view in VIEWS)
                 if found is not None), None) or {"kind": "other", "label": "Model"}
    title = metadata.get("title")
    if isinstance(title, str) and title.strip():
        info["label"] = title.strip()
    if len(outputs) == 1:
        info["output"] = outputs[0]
    return info
