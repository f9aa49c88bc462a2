"""`bertlab/serving` is the REST server only: it loads exports and knows no app (STYLE.md).

No file under it names an app or a task, whether in a string (docstrings included), an
identifier or a comment, and none imports `apps`: what a page shows of a model comes from
the export's metadata and `apps/serve`."""

import ast
import io
import re
import tokenize

import pytest

from tests.conftest import REPO_ROOT

SERVING_DIR = REPO_ROOT / "bertlab" / "serving"
# The apps, their kinds on the demo page, and the task names their exports carry
# ("sentence_classification", "token_classification", "text_classification", ...).
APP_WORDS = {"sentiment", "ner", "translation", "translations", "summarization",
             "summarisation", "classification", "classifier", "tagging", "lm"}
# Words of prose and parts of snake_case / camelCase names ("NERTagger": NER, Tagger);
# a longer word is another word ("inner", "runner" and "corner" are fine).
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")


def names_an_app(text):
    return any(word.lower() in APP_WORDS for word in _WORD.findall(text))


def _serving_files():
    return sorted(p for p in SERVING_DIR.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts)


def app_names_in_python(source):
    """`[(line, what, text)]` for each string literal, identifier or comment of `source`
    that names an app."""
    found = []

    def check(line, what, text):
        if isinstance(text, str) and names_an_app(text):
            found.append((line, what, text))

    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Constant):
            check(line, "string", node.value)
        elif isinstance(node, ast.Name):
            check(line, "name", node.id)
        elif isinstance(node, ast.Attribute):
            check(line, "attribute", node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            check(line, "definition", node.name)
        elif isinstance(node, ast.arg):
            check(line, "argument", node.arg)
        elif isinstance(node, ast.keyword):
            check(line, "keyword", node.arg)
        elif isinstance(node, ast.alias):
            check(line, "import", node.name)
            check(line, "import", node.asname)
        elif isinstance(node, ast.ImportFrom):
            check(line, "import", node.module)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            for name in node.names:
                check(line, "name", name)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            check(token.start[0], "comment", token.string)
    return found


def test_the_checker_finds_app_names():
    source = '''
"""Serves the sentiment app."""
import apps.ner as tagger_app
from bertlab.tasks.token_classification import x
KIND = "translation"   # summarization too
def describe_summarization(classifier, *, kind=Sentiment.NER):
    return {"task": "sentence_classification"}, f(textClassification=1)
'''
    found = {(line, what) for line, what, _ in app_names_in_python(source)}
    assert found == {(2, "string"), (3, "import"), (4, "import"), (5, "string"),
                     (5, "comment"), (6, "definition"), (6, "argument"), (6, "name"),
                     (6, "attribute"), (7, "string"), (7, "keyword")}
    clean = '''
"""Loads every export under the base path; the inner runner polls (a corner case)."""
def serve(registry, describe=None, nerve=1):
    return registry.served()  # kinds come from the metadata
'''
    assert app_names_in_python(clean) == []


def test_serving_has_python_files():
    names = {p.name for p in _serving_files()}
    assert {"__init__.py", "model_registry.py", "rest_server.py", "rest_codec.py"} <= names


@pytest.mark.parametrize("path", _serving_files(),
                         ids=lambda p: str(p.relative_to(SERVING_DIR)))
def test_serving_names_no_app(path):
    if path.suffix == ".py":
        source = path.read_text(encoding="utf-8")
        found = app_names_in_python(source)
        imports_apps = [
            node.lineno for node in ast.walk(ast.parse(source))
            if (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "apps")
            or (isinstance(node, ast.Import) and any(a.name.split(".")[0] == "apps"
                                                     for a in node.names))]
        assert imports_apps == [], f"{path} imports apps (upward) at lines {imports_apps}"
    else:
        text = path.read_text(encoding="utf-8", errors="replace")
        found = [(i + 1, "text", line) for i, line in enumerate(text.splitlines())
                 if names_an_app(line)]
    assert found == [], f"{path} names apps: " + "; ".join(
        f"line {line} ({what}): {text!r}"[:160] for line, what, text in found)
