"""The demo page in a real headless browser (Debian's chromium driven by Playwright): type,
press the button, read the rendered result, compare it with the REST API's answer."""

import math
import os
import shutil

import pytest

from tests.serving.conftest import serving
from tests.serving.helpers import http

CHROMIUM = next((p for p in ["/usr/bin/chromium", shutil.which("chromium") or "",
                             shutil.which("chromium-browser") or ""] if p and os.path.exists(p)),
                None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not found (apt-get install "
                                "chromium); the browser test needs it")


def _entities(tokens, tags):
    spans, open_span = [], None
    for token, tag in zip(tokens, tags):
        if not token:
            continue
        prefix, _, kind = (tag or "O").partition("-")
        if prefix == "B" or (prefix == "I" and (open_span is None or open_span[0] != kind)):
            open_span = [kind, [token]]
            spans.append(open_span)
        elif prefix == "I":
            open_span[1].append(token)
        else:
            open_span = None
    return [(kind, " ".join(words)) for kind, words in spans]


def _api(server, name, instance):
    status, body = http(f"{server.url}/v1/models/{name}:predict", {"instances": [instance]})
    assert status == 200, body
    return body["predictions"][0]


def test_demo_page_end_to_end(server, tmp_path):
    from playwright.sync_api import sync_playwright

    shots = [tmp_path / "demo.png"]
    if os.environ.get("BERTLAB_SCREENSHOT_DIR"):
        os.makedirs(os.environ["BERTLAB_SCREENSHOT_DIR"], exist_ok=True)
        shots.append(os.path.join(os.environ["BERTLAB_SCREENSHOT_DIR"], "demo.png"))
    errors = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{server.url}/")
            page.wait_for_selector("body[data-ready=true]", timeout=30000)
            assert "Serving ner, qa, sentiment, summarization" in page.inner_text("#status")
            assert not page.is_visible("#classification-card")  # no generic classifier
            assert not page.is_visible("#ask_documents-card")  # no search index with a reader
            assert not page.is_visible("#language_model-card")  # no language model

            text = "An utterly delightful film with a wonderful cast ."
            page.fill("#sentiment-input", text)
            page.click("#sentiment-run")
            page.wait_for_selector("#sentiment-label", timeout=30000)
            expected = _api(server, "sentiment", text)
            assert page.inner_text("#sentiment-label").lower() == expected["label"]
            shown = page.inner_text("#sentiment-probability")
            assert shown == f"{100 * max(expected['probabilities']):.1f}% sure"
            assert page.locator("#sentiment-result .bar-row").count() == 2

            text = "Angela Merkel visited Paris with Emmanuel Macron ."
            page.fill("#ner-input", text)
            page.click("#ner-run")
            page.wait_for_selector("#ner-count", timeout=30000)
            expected = _api(server, "ner", text)
            marks = page.locator("#ner-result mark.entity")
            rendered = [(marks.nth(i).get_attribute("data-type"),
                         marks.nth(i).evaluate("m => m.firstChild.textContent"))
                        for i in range(marks.count())]
            assert rendered == _entities(expected["tokens"], expected["tags"])

            # An emoji before the answer: one code point (the model's offsets count code
            # points), two UTF-16 units (JavaScript's string indexes).
            question = "Where does the tower stand?"
            context = "🗼 The tower stands in Paris , France ."
            assert not page.is_visible("#question_answering-model")  # one QA model
            page.fill("#question_answering-input", question)
            page.fill("#question_answering-context", context)
            page.click("#question_answering-run")
            page.wait_for_selector("#question_answering-answer", timeout=30000)
            expected = _api(server, "qa", {"question": question, "context": context})
            assert expected["answer"] == "Paris"  # the test export's (exports.py)
            assert expected["start"] == context.index("Paris") == 22
            assert page.text_content("#question_answering-answer") == expected["answer"]
            assert page.text_content("#question_answering-highlight") == expected["answer"]
            assert page.text_content("#question_answering-score") == (
                f"score {expected['score']:.2f}")
            assert page.text_content("#question_answering-passage") == context
            assert page.eval_on_selector("#question_answering-highlight",
                                         "m => m.previousSibling.textContent") == (
                context[:expected["start"]])
            assert page.inner_text("#question_answering-meta").endswith(" ms")
            page.fill("#question_answering-context", "  ")
            page.click("#question_answering-run")
            assert page.inner_text("#question_answering-result") == (
                "Type the text to find the answer in.")
            page.fill("#question_answering-context", context)
            page.click("#question_answering-run")
            page.wait_for_selector("#question_answering-highlight", timeout=30000)

            assert page.is_visible("#translation-direction")  # two translation models
            options = page.locator("#translation-direction option").all_inner_texts()
            assert options == ["English → German", "German → English"]
            page.select_option("#translation-direction", "translation_de_en")
            text = "Ein Hund rennt durch den Park."
            page.fill("#translation-input", text)
            page.click("#translation-run")
            page.wait_for_selector("#translation-output", timeout=30000)
            expected = _api(server, "translation_de_en", text) or "(empty)"
            assert page.eval_on_selector("#translation-output", "e => e.textContent") == expected

            page.click("#summarization-run")
            page.wait_for_selector("#summarization-output", timeout=30000)
            source = page.input_value("#summarization-input")
            expected = _api(server, "summarization", source) or "(empty)"
            assert page.eval_on_selector("#summarization-output",
                                         "e => e.textContent") == expected

            page.fill("#sentiment-input", "   ")
            page.click("#sentiment-run")
            assert page.inner_text("#sentiment-result") == "Type some text first."
            page.fill("#sentiment-input", text)
            page.click("#sentiment-run")
            page.wait_for_selector("#sentiment-label", timeout=30000)
            for shot in shots:
                page.screenshot(path=str(shot), full_page=True)

            # With one translation model there is no direction to choose.
            status, listing = http(f"{server.url}/demo/apps.json")
            listing["apps"] = [a for a in listing["apps"] if a["name"] != "translation_de_en"]
            page.route("**/demo/apps.json", lambda route: route.fulfill(json=listing))
            page.reload()
            page.wait_for_selector("body[data-ready=true]", timeout=30000)
            assert not page.is_visible("#translation-direction")
            assert page.is_visible("#translation-run")
        finally:
            browser.close()
    assert errors == []
    assert os.path.getsize(shots[0]) > 10000


def test_classification_card(server):
    """Any text classifier gets the classification card: its description made by
    `apps.serve.app_views` (the listing and the answers are routed: the session's exports
    hold no generic classifier), one text or a pair sent, label with bars or a score shown."""
    import re

    from playwright.sync_api import sync_playwright

    from apps.serve.app_views import describe

    status, listing = http(f"{server.url}/demo/apps.json")
    assert status == 200
    listing["apps"] += [
        {"name": "topics", "version": 1, **describe(
            {"task": "text_classification", "class_names": ["world", "sports", "business"]},
            ["text"], ["label", "probabilities"])},
        {"name": "paraphrase", "version": 2, **describe(
            {"task": "sentence_classification", "title": "Paraphrase"}, ["text", "text_pair"],
            ["label", "score"])},
        {"name": "similarity", "version": 1, **describe(
            {"task": "text_classification", "head": "regression", "text_pair": True},
            ["text", "text_pair"], ["score"])}]
    answers = {"topics": {"predictions": [{"label": "sports",
                                           "probabilities": [0.125, 0.75, 0.125]}]},
               "paraphrase": {"predictions": [{"label": "same", "score": 0.9}]},
               # One output: TF Serving's row format answers with the bare value.
               "similarity": {"predictions": [3.25]}}
    sent, errors = [], []

    def answer(route):
        name = re.search(r"/v1/models/([^/:]+):predict$", route.request.url).group(1)
        sent.append((name, route.request.post_data_json))
        route.fulfill(json=answers[name])

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.route("**/demo/apps.json", lambda route: route.fulfill(json=listing))
            page.route(re.compile(r"/v1/models/(topics|paraphrase|similarity):predict$"),
                       answer)
            page.goto(f"{server.url}/")
            page.wait_for_selector("body[data-ready=true]", timeout=30000)
            assert page.is_visible("#classification-card")
            assert page.is_visible("#sentiment-card") and page.is_visible("#ner-card")
            assert page.locator("#classification-model option").all_inner_texts() == [
                "Text classification (topics)", "Paraphrase (paraphrase)",
                "Text classification (similarity)"]
            assert page.is_visible("#classification-model")  # two classifiers to choose from
            assert not page.is_visible("#classification-pair")  # topics takes one text

            page.fill("#classification-input", "The match ended 2-1.")
            page.click("#classification-run")
            page.wait_for_selector("#classification-label", timeout=30000)
            assert page.text_content("#classification-label") == "sports"
            assert page.inner_text("#classification-probability") == "75.0% sure"
            rows = page.locator("#classification-result .bar-row")
            assert [rows.nth(i).get_attribute("data-class") for i in range(rows.count())] == [
                "world", "sports", "business"]
            assert [rows.nth(i).locator(".value").inner_text() for i in range(3)] == [
                "12.5%", "75.0%", "12.5%"]
            assert page.inner_text("#classification-meta").endswith(" ms")

            page.select_option("#classification-model", "paraphrase")
            assert page.is_visible("#classification-pair")
            page.fill("#classification-input", "A man plays a guitar.")
            page.fill("#classification-pair", "  Someone plays music. ")
            page.click("#classification-run")
            page.wait_for_selector("#classification-score", timeout=30000)
            assert page.text_content("#classification-label") == "same"
            assert page.inner_text("#classification-score") == "score 0.900"
            assert page.locator("#classification-result .bar-row").count() == 0

            page.select_option("#classification-model", "similarity")
            page.fill("#classification-input", "A plane takes off.")
            page.fill("#classification-pair", "An air plane is taking off.")
            page.click("#classification-run")
            # The previous answer's score is replaced by "Working…", then by this one.
            page.wait_for_function(
                "(document.querySelector('#classification-score') || {}).innerText"
                " === 'score 3.250'", timeout=30000)
            assert page.locator("#classification-label").count() == 0

            page.select_option("#classification-model", "topics")
            assert not page.is_visible("#classification-pair")
        finally:
            browser.close()
    assert sent == [
        ("topics", {"instances": ["The match ended 2-1."]}),
        ("paraphrase", {"instances": [{"text": "A man plays a guitar.",
                                       "text_pair": "Someone plays music."}]}),
        ("similarity", {"instances": [{"text": "A plane takes off.",
                                       "text_pair": "An air plane is taking off."}]})]
    assert errors == []


def test_question_answering_card(server):
    """Several QA models: a picker; the request sends the question and the context; the
    highlight follows the code-point offsets past characters beyond U+FFFF (an emoji, a CJK
    extension character), and a model with the answer alone (no offsets) still gets one.
    The listing and the answers are routed (the session's exports hold one QA model)."""
    import re

    from playwright.sync_api import sync_playwright

    from apps.serve.app_views import describe

    status, listing = http(f"{server.url}/demo/apps.json")
    assert status == 200
    listing["apps"] += [
        {"name": "qa_drcd", "version": 2, **describe(
            {"task": "question_answering", "title": "DRCD"}, ["question", "context"],
            ["answer", "score", "start", "end"])},
        {"name": "qa_plain", "version": 1, **describe(
            {"task": "question_answering"}, ["question", "context"], ["answer"])}]
    chinese = "𠮷野家在台北開了新店。"
    start = chinese.index("台北")
    answers = {"qa_drcd": {"predictions": [{"answer": "台北", "score": 7.125, "start": start,
                                            "end": start + 2}]},
               "qa_plain": {"predictions": ["Ann"]}}
    sent, errors = [], []

    def answer(route):
        name = re.search(r"/v1/models/([^/:]+):predict$", route.request.url).group(1)
        sent.append((name, route.request.post_data_json))
        route.fulfill(json=answers[name])

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.route("**/demo/apps.json", lambda route: route.fulfill(json=listing))
            page.route(re.compile(r"/v1/models/(qa_drcd|qa_plain):predict$"), answer)
            page.goto(f"{server.url}/")
            page.wait_for_selector("body[data-ready=true]", timeout=30000)
            assert page.is_visible("#question_answering-model")
            assert page.locator("#question_answering-model option").all_inner_texts() == [
                "Question answering (qa)", "DRCD (qa_drcd)", "Question answering (qa_plain)"]

            page.select_option("#question_answering-model", "qa_drcd")
            page.fill("#question_answering-input", " 新店在哪裡？ ")
            page.fill("#question_answering-context", chinese)
            page.press("#question_answering-context", "Control+Enter")
            page.wait_for_selector("#question_answering-highlight", timeout=30000)
            assert page.text_content("#question_answering-answer") == "台北"
            assert page.text_content("#question_answering-highlight") == "台北"
            assert page.text_content("#question_answering-score") == "score 7.13"
            assert page.text_content("#question_answering-passage") == chinese

            page.select_option("#question_answering-model", "qa_plain")
            page.fill("#question_answering-input", "Who wrote it?")
            page.fill("#question_answering-context", "😀 It was written by Ann.")
            page.click("#question_answering-run")
            page.wait_for_function(
                "(document.querySelector('#question_answering-highlight') || {}).textContent"
                " === 'Ann'", timeout=30000)
            assert page.locator("#question_answering-score").count() == 0
        finally:
            browser.close()
    assert sent == [
        ("qa_drcd", {"instances": [{"question": "新店在哪裡？", "context": chinese}]}),
        ("qa_plain", {"instances": [{"question": "Who wrote it?",
                                     "context": "😀 It was written by Ann."}]})]
    assert errors == []


def test_ask_documents_card(server):
    """A search index with a reader gets the "Ask your documents" card (its description made
    by `apps.serve.app_views`; the listing and the answers are routed): the question goes to
    the `answer` signature and to `serving_default`; the answer is highlighted in its
    paragraph by code points (an emoji before it), with its document id and the closest
    documents listed; no answer shows the closest document."""
    import re

    from playwright.sync_api import sync_playwright

    from apps.serve.app_views import describe

    status, listing = http(f"{server.url}/demo/apps.json")
    assert status == 200
    listing["apps"].append({"name": "docs", "version": 1, **describe(
        {"task": "search_index", "reader": {"task": "question_answering"}, "read_top": 2},
        ["query"], ["ids", "scores", "texts"])})
    paragraph = "🗼 The tower stands in Paris , France ."
    start = 22  # code points: the emoji is one
    top = {"ids": ["louvre", "eiffel"], "scores": [0.75, 0.5],
           "texts": ["The Louvre is a museum .", paragraph]}
    answers = [{"answer": "Paris", "score": 9.5, "document_id": "eiffel",
                "document_text": paragraph, "start": start, "end": start + 5,
                "retrieval_score": 0.5},
               {"answer": "", "score": -1e9, "document_id": "louvre",
                "document_text": top["texts"][0], "start": 0, "end": 0,
                "retrieval_score": 0.75}]
    sent, errors = [], []

    def answer(route):
        body = route.request.post_data_json
        sent.append(body)
        if body.get("signature_name") == "answer":
            route.fulfill(json={"predictions": [answers.pop(0)]})
        else:
            route.fulfill(json={"predictions": [top]})

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.route("**/demo/apps.json", lambda route: route.fulfill(json=listing))
            page.route(re.compile(r"/v1/models/docs:predict$"), answer)
            page.goto(f"{server.url}/")
            page.wait_for_selector("body[data-ready=true]", timeout=30000)
            assert page.is_visible("#ask_documents-card")
            assert not page.is_visible("#ask_documents-model")  # one index
            page.fill("#ask_documents-input", " Where is the tower? ")
            page.click("#ask_documents-run")
            page.wait_for_selector("#ask_documents-highlight", timeout=30000)
            assert page.text_content("#ask_documents-answer") == "Paris"
            assert page.text_content("#ask_documents-score") == "score 9.50"
            assert page.text_content("#ask_documents-document") == "eiffel"
            assert page.text_content("#ask_documents-passage") == paragraph
            assert page.eval_on_selector("#ask_documents-highlight",
                                         "m => m.previousSibling.textContent") == paragraph[:22]
            items = page.locator("#ask_documents-retrieved li")
            assert [items.nth(i).get_attribute("data-id") for i in range(2)] == [
                "louvre", "eiffel"]
            assert page.locator("#ask_documents-retrieved li.source-document").get_attribute(
                "data-id") == "eiffel"
            assert page.inner_text("#ask_documents-meta").endswith(" ms")

            page.click("#ask_documents-run")
            page.wait_for_selector("#ask_documents-none", timeout=30000)
            assert page.text_content("#ask_documents-document") == "louvre"
            assert page.text_content("#ask_documents-passage") == top["texts"][0]
            assert page.locator("#ask_documents-highlight").count() == 0

            # Stock TF Serving (no demo/apps.json): found by its `answer` signature. (The
            # browser logs each candidate name's 404.)
            assert errors == []
            page.route("**/demo/apps.json", lambda route: route.fulfill(status=404))
            signatures = {"serving_default": {"outputs": {"ids": {}, "scores": {}, "texts": {}}},
                          "answer": {"outputs": {"answer": {}, "document_id": {}}}}
            page.route("**/v1/models/search/metadata", lambda route: route.fulfill(json={
                "metadata": {"signature_def": {"signature_def": signatures}}}))
            page.reload()
            page.wait_for_selector("body[data-ready=true]", timeout=30000)
            assert page.is_visible("#ask_documents-card")
            assert "search" in page.inner_text("#status")
        finally:
            browser.close()
    question = {"instances": ["Where is the tower?"]}
    assert sorted(sent, key=len) == [question, question,
                                     {**question, "signature_name": "answer"},
                                     {**question, "signature_name": "answer"}]
    assert all(e.startswith("Failed to load resource") for e in errors), errors


@pytest.fixture(scope="module")
def lm_server(tmp_path_factory, lm_tokenizer):
    """A server over a tiny language-model export alone (`exports.build_language_model_export`:
    sampled, at most 8 new tokens), warmed up as `python -m apps.serve` warms it."""
    from tests.serving.exports import build_language_model_export

    root = tmp_path_factory.mktemp("lm_models")
    path = build_language_model_export(root, lm_tokenizer)
    with serving(root) as background:
        background.lm_path = path
        yield background


def _generate(server, prompt, **settings):
    status, body = http(f"{server.url}/v1/models/lm:predict", {
        "signature_name": "generate", "inputs": {"prompt": [prompt], **settings}})
    assert status == 200, body
    return body["outputs"]["completion"][0], body["outputs"]["num_tokens"][0]


def _open_page(playwright, url, errors):
    browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                         args=["--no-sandbox", "--disable-gpu"])
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return browser, page


def test_language_model_card(lm_server, tmp_path):
    """"Write with the language model" over a real export: the settings start from its
    metadata; Generate sends the prompt and the settings to `generate` (columnar, the
    settings as scalars) and shows the prompt, then the completion; the same seed gives the
    same text, another seed another; too many new tokens shows the export's refusal; Score
    shows `score_text`'s perplexity and bits per character."""
    from playwright.sync_api import sync_playwright

    from bertlab.export.warmup import read_warmup_requests

    # Served means warmed up: the export's warm-up file, `generate` included, was replayed.
    warmed = {name for name, _ in read_warmup_requests(lm_server.lm_path)}
    assert {"serving_default", "generate", "score_text", "serve_token_ids"} <= warmed
    status, body = http(f"{lm_server.url}/v1/models/lm")
    assert status == 200 and body["model_version_status"][0]["state"] == "AVAILABLE"

    shots = [tmp_path / "demo_language_model.png"]
    if os.environ.get("BERTLAB_SCREENSHOT_DIR"):
        os.makedirs(os.environ["BERTLAB_SCREENSHOT_DIR"], exist_ok=True)
        shots.append(os.path.join(os.environ["BERTLAB_SCREENSHOT_DIR"],
                                  "demo_language_model.png"))
    prompt = "It was a dark and stormy night; "
    settings = {"max_new_tokens": 8, "temperature": 0.8, "top_k": 0, "top_p": 0.95}
    sent, errors = [], []
    with sync_playwright() as playwright:
        browser, page = _open_page(playwright, lm_server.url, errors)
        try:
            page.on("request", lambda r: sent.append(r.post_data_json)
                    if r.method == "POST" else None)
            page.goto(f"{lm_server.url}/")
            page.wait_for_selector("body[data-ready=true]", timeout=30000)
            assert page.inner_text("#status") == "Serving lm."
            assert page.is_visible("#language_model-card")
            assert not page.is_visible("#language_model-model")  # one language model
            assert page.is_disabled("#sentiment-run")  # the other cards have no model
            assert {name: page.input_value(f"#language_model-{name}")
                    for name in ("max_new_tokens", "temperature", "top_k", "top_p", "seed")} == {
                "max_new_tokens": "8", "temperature": "0.8", "top_k": "0", "top_p": "0.95",
                "seed": "0"}  # the export's decoding (exports.LM_DECODING)
            assert page.get_attribute("#language_model-max_new_tokens", "max") == "8"

            def generate():
                page.click("#language_model-run")
                # The previous text is replaced by "Working…", then by the answer.
                page.wait_for_selector("#language_model-completion, #language_model-result.error",
                                       timeout=60000)
                return page.text_content("#language_model-completion")

            page.fill("#language_model-input", prompt)
            page.fill("#language_model-seed", "5")
            first = generate()
            expected, num_tokens = _generate(lm_server, prompt, **settings, seed=5)
            assert first == expected and first  # a random model's 8 tokens: some text
            assert page.text_content("#language_model-prompt") == prompt  # as typed
            assert page.text_content("#language_model-output") == prompt + expected
            assert page.inner_text("#language_model-tokens").startswith(f"{num_tokens} new token")
            assert page.inner_text("#language_model-meta").endswith(" ms")
            for shot in shots:
                page.screenshot(path=str(shot), full_page=True)

            assert generate() == first  # seeded: the same text again
            page.fill("#language_model-seed", "6")
            other = generate()
            assert other != first and other == _generate(lm_server, prompt, **settings,
                                                         seed=6)[0]
            page.fill("#language_model-temperature", "0")
            greedy = generate()
            assert greedy == _generate(lm_server, prompt, **{**settings, "temperature": 0.0},
                                       seed=6)[0]
            page.fill("#language_model-temperature", "0.8")

            page.fill("#language_model-max_new_tokens", "9")
            page.click("#language_model-run")
            page.wait_for_selector("#language_model-result.error", timeout=60000)
            assert page.inner_text("#language_model-result") == (
                "max_new_tokens must be at most 8 (this export's limit)")
            page.fill("#language_model-max_new_tokens", "")
            page.click("#language_model-run")
            assert page.inner_text("#language_model-result") == (
                "Set max new tokens to a number.")
            page.fill("#language_model-max_new_tokens", "8")
            page.fill("#language_model-input", "  ")
            page.click("#language_model-run")
            assert page.inner_text("#language_model-result") == "Type some text first."

            text = "The rain fell in torrents,\nexcept at occasional intervals."
            page.fill("#language_model-input", text)
            page.click("#language_model-score")
            page.wait_for_selector("#language_model-perplexity", timeout=60000)
            status, body = http(f"{lm_server.url}/v1/models/lm:predict",
                                {"signature_name": "score_text", "instances": [text]})
            assert status == 200, body
            score = body["predictions"][0]
            assert score["num_chars"] == len(text)
            perplexity = math.exp(-score["log_likelihood"] / score["num_tokens"])
            bits = -score["log_likelihood"] / math.log(2) / score["num_chars"]
            # A random model over 600 pieces: about 600 per token.
            assert 100 < perplexity < 3000
            assert float(page.text_content("#language_model-perplexity")) == pytest.approx(
                perplexity, abs=0.006)
            assert float(page.text_content("#language_model-bits")) == pytest.approx(
                bits, abs=0.0006)
            assert page.inner_text("#language_model-counts").startswith(
                f"{score['num_tokens']} tokens, {len(text)} characters")
            assert not page.is_disabled("#language_model-score")
        finally:
            browser.close()
    generate_body = {"signature_name": "generate", "inputs": {"prompt": [prompt], **settings}}
    assert sent == [
        {**generate_body, "inputs": {**generate_body["inputs"], "seed": 5}},
        {**generate_body, "inputs": {**generate_body["inputs"], "seed": 5}},
        {**generate_body, "inputs": {**generate_body["inputs"], "seed": 6}},
        {**generate_body, "inputs": {**generate_body["inputs"], "temperature": 0, "seed": 6}},
        {**generate_body, "inputs": {**generate_body["inputs"], "max_new_tokens": 9,
                                     "seed": 6}},
        {"signature_name": "score_text", "instances": [text]}]
    # The browser logs the refused request (400).
    assert len(errors) == 1 and errors[0].startswith("Failed to load resource"), errors
    assert os.path.getsize(shots[0]) > 10000


def test_language_model_card_follows_the_chosen_model(lm_server):
    """Several language models: a picker, each model's settings and limit in the fields; a
    model found through stock TF Serving's metadata (no demo/apps.json) by its `generate`
    and `score_text` signatures. The listing and the second model's answers are routed."""
    import re

    from playwright.sync_api import sync_playwright

    from apps.serve.app_views import describe

    status, listing = http(f"{lm_server.url}/demo/apps.json")
    assert status == 200
    listing["apps"].append({"name": "lm_greedy", "version": 2, **describe(
        {"title": "Greedy", "signatures": ["serving_default", "generate", "score_text"],
         "max_new_tokens": 4, "context_window": 32,
         "decoding": {"method": "greedy", "max_length": 4, "seed": 0}},
        ["prompt"], ["completion"])})
    sent, errors = [], []

    def answer(route):
        sent.append(route.request.post_data_json)
        route.fulfill(json={"outputs": {"completion": [" and then"], "num_tokens": [3]}})

    with sync_playwright() as playwright:
        browser, page = _open_page(playwright, lm_server.url, errors)
        try:
            page.route("**/demo/apps.json", lambda route: route.fulfill(json=listing))
            page.route(re.compile(r"/v1/models/lm_greedy:predict$"), answer)
            page.goto(f"{lm_server.url}/")
            page.wait_for_selector("body[data-ready=true]", timeout=30000)
            assert page.is_visible("#language_model-model")
            assert page.locator("#language_model-model option").all_inner_texts() == [
                "Language model (lm)", "Greedy (lm_greedy)"]
            page.select_option("#language_model-model", "lm_greedy")
            assert page.input_value("#language_model-max_new_tokens") == "4"
            assert page.input_value("#language_model-temperature") == "0"
            assert page.get_attribute("#language_model-max_new_tokens", "max") == "4"
            page.fill("#language_model-input", "Once upon a time")
            page.press("#language_model-input", "Control+Enter")
            page.wait_for_selector("#language_model-completion", timeout=30000)
            assert page.text_content("#language_model-output") == "Once upon a time and then"
            assert page.inner_text("#language_model-tokens") == (
                "3 new tokens (then the end of the document)")
            page.select_option("#language_model-model", "lm")
            assert page.input_value("#language_model-max_new_tokens") == "8"
            assert page.input_value("#language_model-temperature") == "0.8"

            # Stock TF Serving (no demo/apps.json): found by its signatures. (The browser
            # logs each candidate name's 404.)
            assert errors == []
            page.route("**/demo/apps.json", lambda route: route.fulfill(status=404))
            page.reload()
            page.wait_for_selector("body[data-ready=true]", timeout=30000)
            assert page.is_visible("#language_model-card")
            assert page.inner_text("#status") == "Serving lm."
        finally:
            browser.close()
    assert sent == [{"signature_name": "generate", "inputs": {
        "prompt": ["Once upon a time"], "max_new_tokens": 4, "temperature": 0, "top_k": 0,
        "top_p": 0.95, "seed": 0}}]
    assert all(e.startswith("Failed to load resource") for e in errors), errors
