// The demo page: finds the served apps, then calls TF Serving's REST API for each card.
// Works against `python -m apps.serve` (which lists its apps at demo/apps.json) and against
// tensorflow_model_server behind the same origin (apps found through /v1/models/<name>/metadata).
"use strict";

const CANDIDATE_NAMES = ["sentiment", "ner", "qa", "qa_cmrc2018", "qa_drcd", "translation",
  "translation_en_de", "translation_de_en", "translation_en_zh", "translation_zh_en",
  "summarization", "search", "lm"];
const ENTITY_NAMES = { PER: "Person", ORG: "Organization", LOC: "Location", MISC: "Other" };

const $ = (id) => document.getElementById(id);

function el(tag, attrs, children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children || []) node.append(child);
  return node;
}

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  let response;
  try {
    response = await fetch(path, options);
  } catch (error) {
    throw new Error("The server cannot be reached.");
  }
  let data = null;
  try { data = await response.json(); } catch (error) { /* not JSON */ }
  if (!response.ok) {
    throw new Error(readableError((data && data.error) ||
      `The server answered ${response.status}.`));
  }
  return data;
}

// A value a signature refuses (TensorFlow's assertion, a 400) arrives as "... Graph execution
// error: ... assertion failed: [`max_new_tokens` must be at most 16 (this export\'s limit)]
// [Condition x <= y ...] ...": the assertion's own message is shown alone.
function readableError(message) {
  const found = /assertion failed: \[([\s\S]*?)\](?= \[|\s*$)/.exec(message);
  return found ? found[1].replace(/\\(.)/g, "$1").replace(/`/g, "") : message;
}

function kindFromOutputs(outputs) {
  const names = Object.keys(outputs).sort().join(",");
  if (names === "label,probabilities") return "sentiment";
  if (names === "tags,tokens") return "ner";
  if (names === "answer,end,score,start") return "question_answering";
  if (names === "translation") return "translation";
  if (names === "summary") return "summarization";
  return "other";
}

async function discoverApps() {
  try {
    const listed = await api("demo/apps.json");
    if (listed && Array.isArray(listed.apps)) return listed.apps;
  } catch (error) { /* not our server: ask TF Serving about the usual names */ }
  const found = [];
  for (const name of CANDIDATE_NAMES) {
    try {
      const meta = await api(`v1/models/${name}/metadata`);
      const signatures = meta.metadata.signature_def.signature_def;
      const signature = signatures.serving_default;
      // A search index with a reader has an `answer` signature giving the source document.
      // A language model has the `generate` and `score_text` signatures its card calls.
      const kind = signatures.answer && signatures.answer.outputs.document_id
        ? "ask_documents" : signatures.generate && signatures.score_text
          ? "language_model" : kindFromOutputs(signature.outputs);
      const app = { name, kind, label: name, output: Object.keys(signature.outputs)[0] };
      const direction = name.match(/^translation_([a-z]+)_([a-z]+)$/);
      if (direction) app.label = `${direction[1]} → ${direction[2]}`;
      found.push(app);
    } catch (error) { /* not served */ }
  }
  return found;
}

async function predictOne(model, instance, signature) {
  // `instance`: the text of a one-input model, or an object naming every input; `signature`:
  // the signature to call (default: serving_default).
  const body = { instances: [instance] };
  if (signature) body.signature_name = signature;
  const data = await api(`v1/models/${encodeURIComponent(model)}:predict`, body);
  return data.predictions[0];
}

async function predictColumns(model, inputs, signature) {
  // Columnar format: `inputs` names every input, a batched one as a list, a scalar one (a
  // setting) as a bare value beside it; the outputs come back the same way.
  const body = { signature_name: signature, inputs };
  const data = await api(`v1/models/${encodeURIComponent(model)}:predict`, body);
  return data.outputs;
}

function showError(result, error) {
  result.className = "result error";
  result.replaceChildren(el("span", { text: error.message }));
}

function showBusy(result) {
  result.className = "result";
  result.replaceChildren(el("span", { class: "placeholder", text: "Working…" }));
}

// --------------------------------------------------------------------------- classifiers

// A label with its probabilities (one bar per class) or its score; element ids start with
// `prefix` (`sentiment-label`, `classification-label`, ...).
function renderLabel(result, prediction, app, prefix) {
  // A model with one output (a regression's `score`) answers with the bare value.
  if (typeof prediction !== "object" || prediction === null) {
    prediction = { [(app.outputs && app.outputs[0]) || "score"]: prediction };
  }
  const probabilities = prediction.probabilities;
  if (!Array.isArray(probabilities)) {
    const score = Number(prediction.score);
    const row = [el("span", { class: "meta", id: `${prefix}-score`,
      text: `score ${score.toFixed(3)}` })];
    if (prediction.label !== undefined) {
      const label = String(prediction.label);
      row.unshift(el("span", { class: `label-pill ${label}`, id: `${prefix}-label`, text: label }));
    }
    result.className = "result";
    result.replaceChildren(el("div", { class: "label-row" }, row));
    return;
  }
  const label = String(prediction.label);
  const names = app.class_names && app.class_names.length === probabilities.length
    ? app.class_names : probabilities.map((_, i) => `class ${i}`);
  const best = probabilities.indexOf(Math.max(...probabilities));
  const rows = names.map((name, i) => {
    const percent = (100 * probabilities[i]).toFixed(1);
    return el("div", { class: `bar-row ${name}`, "data-class": name }, [
      el("span", { text: name }),
      el("div", { class: "bar" }, [el("div", { style: `width: ${percent}%` })]),
      el("span", { class: "value", text: `${percent}%` }),
    ]);
  });
  result.className = "result";
  result.replaceChildren(
    el("div", { class: "label-row" }, [
      el("span", { class: `label-pill ${label}`, id: `${prefix}-label`, text: label }),
      el("span", { class: "meta", id: `${prefix}-probability`,
        text: `${(100 * probabilities[best]).toFixed(1)}% sure` }),
    ]),
    ...rows);
}

// --------------------------------------------------------------------------- NER

function entitySpans(tokens, tags) {
  // BIO tags -> [{type, start, end}] over word positions; "" marks padding.
  const spans = [];
  let open = null;
  tokens.forEach((token, i) => {
    if (token === "") return;
    const tag = tags[i] || "O";
    const [prefix, type] = tag.includes("-") ? tag.split(/-(.*)/s) : [tag, null];
    if (prefix === "B" || (prefix === "I" && (!open || open.type !== type))) {
      open = { type, start: i, end: i + 1 };
      spans.push(open);
    } else if (prefix === "I" && open) {
      open.end = i + 1;
    } else {
      open = null;
    }
  });
  return spans;
}

function renderEntities(result, prediction) {
  const tokens = prediction.tokens.filter((t) => t !== "");
  const spans = entitySpans(prediction.tokens, prediction.tags);
  const parts = [];
  let i = 0;
  for (const span of spans) {
    if (span.start > i) parts.push(document.createTextNode(tokens.slice(i, span.start).join(" ") + " "));
    const words = tokens.slice(span.start, span.end).join(" ");
    parts.push(el("mark", { class: `entity ${span.type}`, "data-type": span.type,
      title: ENTITY_NAMES[span.type] || span.type }, [
      words, el("span", { class: "tag", text: span.type }),
    ]));
    parts.push(document.createTextNode(" "));
    i = span.end;
  }
  if (i < tokens.length) parts.push(document.createTextNode(tokens.slice(i).join(" ")));
  result.className = "result";
  const summary = spans.length === 0 ? "No entities found."
    : `${spans.length} ${spans.length === 1 ? "entity" : "entities"} found.`;
  result.replaceChildren(el("div", { class: "entities" }, parts),
    el("div", { class: "meta", id: "ner-count", text: summary }));
}

function renderLegend() {
  const legend = $("ner-legend");
  legend.replaceChildren(...Object.entries(ENTITY_NAMES).map(([type, name]) =>
    el("mark", { class: `entity ${type}`, text: name })));
}

// --------------------------------------------------------------------------- question answering

// The answer's place in the context: `[before, answer, after]`, or null. `start` and `end` are
// code-point offsets (Python's `context[start:end]`); JavaScript strings index UTF-16 units,
// in which a character beyond U+FFFF (an emoji, a rare CJK character) counts twice, so the
// context is split into code points first.
function answerSpan(context, answer, start, end) {
  const chars = Array.from(context);
  if (Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start < end &&
      end <= chars.length && chars.slice(start, end).join("") === answer) {
    return [chars.slice(0, start).join(""), answer, chars.slice(end).join("")];
  }
  // No offsets (a model without them), or offsets into another text: the first occurrence.
  const at = answer ? context.indexOf(answer) : -1;
  return at < 0 ? null : [context.slice(0, at), answer, context.slice(at + answer.length)];
}

function renderAnswer(result, prediction, context) {
  // A model with one output answers with the bare answer.
  if (typeof prediction !== "object" || prediction === null) prediction = { answer: prediction };
  const answer = prediction.answer == null ? "" : String(prediction.answer);
  result.className = "result";
  if (!answer) {
    result.replaceChildren(el("span", { class: "placeholder", id: "question_answering-none",
      text: "No answer found in the text." }));
    return;
  }
  const row = [el("span", { class: "answer-text", id: "question_answering-answer",
    text: answer })];
  const score = Number(prediction.score);
  if (prediction.score !== undefined && Number.isFinite(score)) {
    row.push(el("span", { class: "meta", id: "question_answering-score",
      text: `score ${score.toFixed(2)}` }));
  }
  const span = answerSpan(context, answer, prediction.start, prediction.end);
  const passage = el("div", { class: "passage", id: "question_answering-passage" }, span
    ? [span[0], el("mark", { class: "answer", id: "question_answering-highlight",
      text: span[1] }), span[2]]
    : [context]);
  result.replaceChildren(el("div", { class: "label-row" }, row), passage);
  const mark = passage.querySelector("mark");
  if (mark) passage.scrollTop = Math.max(0, mark.offsetTop - passage.clientHeight / 3);
}

// --------------------------------------------------------------------------- ask your documents

// `found`: the `answer` signature's prediction (answer, score, document_id, document_text,
// start, end, retrieval_score); `top`: serving_default's (ids, scores, texts), best first.
function renderDocumentAnswer(result, found, top) {
  const answer = String(found.answer || "");
  const text = String(found.document_text || "");
  const row = answer
    ? [el("span", { class: "answer-text", id: "ask_documents-answer", text: answer }),
      el("span", { class: "meta", id: "ask_documents-score",
        text: `score ${Number(found.score).toFixed(2)}` })]
    : [el("span", { class: "placeholder", id: "ask_documents-none",
      text: "No answer found in the closest documents." })];
  const span = answer ? answerSpan(text, answer, found.start, found.end) : null;
  const passage = el("div", { class: "passage", id: "ask_documents-passage" }, span
    ? [span[0], el("mark", { class: "answer", id: "ask_documents-highlight", text: span[1] }),
      span[2]]
    : [text]);
  const source = el("div", { class: "source" }, [
    answer ? "From document " : "Closest document ",
    el("code", { id: "ask_documents-document", text: String(found.document_id) }),
    ` (retrieval score ${Number(found.retrieval_score).toFixed(3)})`]);
  const items = (top.ids || []).map((id, i) => el("li", {
    class: id === found.document_id ? "source-document" : "", "data-id": id }, [
    el("span", { class: "doc-id", text: id }),
    el("span", { class: "meta", text: `${Number(top.scores[i]).toFixed(3)} ` }),
    String(top.texts[i]).length > 140 ? `${String(top.texts[i]).slice(0, 139)}…`
      : String(top.texts[i])]));
  result.className = "result";
  result.replaceChildren(el("div", { class: "label-row" }, row), source, passage,
    el("div", { class: "source", text: "Closest documents:" }),
    el("ol", { class: "retrieved", id: "ask_documents-retrieved" }, items));
}

// --------------------------------------------------------------------------- generation

function renderGenerated(result, text, id) {
  result.className = "result";
  result.replaceChildren(el("div", { class: "generated", id, text: text || "(empty)" }));
}

// --------------------------------------------------------------------------- language model

const GENERATE_SETTINGS = ["max_new_tokens", "temperature", "top_k", "top_p", "seed"];

// The `generate` settings typed in the card, as numbers (the signature refuses values out of
// range, a float for an integer setting included: the card shows its answer).
function generateSettings() {
  const settings = {};
  for (const name of GENERATE_SETTINGS) {
    const field = $(`language_model-${name}`);
    // A number field holds "" when what is typed is not a number.
    const value = field.value.trim() === "" ? NaN : Number(field.value);
    if (!Number.isFinite(value)) {
      const label = field.parentElement.firstChild.textContent.trim().toLowerCase();
      throw new Error(`Set ${label} to a number.`);
    }
    settings[name] = value;
  }
  return settings;
}

// The prompt, then the completion in its own colour: the prompt as typed, so the two read as
// the one text the model continued (its tokenizer is lossless).
function renderCompletion(result, prompt, completion, numTokens, maxNewTokens) {
  // `num_tokens` counts the end-of-document token, which the completion does not show.
  const ended = numTokens < maxNewTokens ? " (then the end of the document)" : "";
  result.className = "result";
  result.replaceChildren(
    el("div", { class: "generated written", id: "language_model-output" }, [
      el("span", { class: "prompt", id: "language_model-prompt", text: prompt }),
      el("span", { class: "completion", id: "language_model-completion", text: completion })]),
    el("div", { class: "meta", id: "language_model-tokens",
      text: `${numTokens} new ${numTokens === 1 ? "token" : "tokens"}${ended}` }));
}

// `score_text`'s answer: the log-likelihood (natural log) of the text's tokens, and how many
// tokens and characters (code points) it has.
function renderScore(result, score) {
  const logLikelihood = Number(score.log_likelihood);
  const tokens = Number(score.num_tokens);
  const chars = Number(score.num_chars);
  const perplexity = Math.exp(-logLikelihood / tokens);
  const bits = -logLikelihood / Math.LN2 / chars;
  result.className = "result";
  const figure = (id, value, what) => el("div", {}, [
    el("span", { class: "score-value", id, text: value }),
    el("span", { class: "meta", text: what })]);
  result.replaceChildren(
    el("div", { class: "scores" }, [
      figure("language_model-perplexity", perplexity.toFixed(2), "perplexity per token"),
      figure("language_model-bits", bits.toFixed(3), "bits per character")]),
    el("div", { class: "meta", id: "language_model-counts",
      text: `${tokens} tokens, ${chars} characters, log-likelihood ${logLikelihood.toFixed(2)}` }));
}

// --------------------------------------------------------------------------- wiring

// The handler of a card's button: runs `run(text, result)` on the card's trimmed text (refused
// when empty), the button disabled meanwhile; shows the time taken, or the error.
function cardAction(kind, button, run) {
  const input = $(`${kind}-input`);
  const result = $(`${kind}-result`);
  return async () => {
    const text = input.value.trim();
    if (!text) {
      showError(result, new Error("Type some text first."));
      return;
    }
    button.disabled = true;
    showBusy(result);
    const started = performance.now();
    try {
      await run(text, result);
      $(`${kind}-meta`).textContent = `${Math.round(performance.now() - started)} ms`;
    } catch (error) {
      showError(result, error);
    } finally {
      button.disabled = false;
    }
  };
}

function setUp(kind, apps, run) {
  const card = $(`${kind}-card`);
  const button = $(`${kind}-run`);
  const input = $(`${kind}-input`);
  const result = $(`${kind}-result`);
  if (apps.length === 0) {
    card.classList.add("unavailable");
    button.disabled = true;
    result.replaceChildren(el("span", { class: "placeholder",
      text: "No model of this kind is exported yet." }));
    return;
  }
  const go = cardAction(kind, button, run);
  button.addEventListener("click", go);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) go();
  });
}

async function main() {
  let apps;
  try {
    apps = await discoverApps();
  } catch (error) {
    apps = [];
  }
  const byKind = (kind) => apps.filter((app) => app.kind === kind);
  const status = $("status");
  if (apps.length === 0) {
    status.textContent = "No exported model is being served. Export one, then reload.";
    status.classList.add("error");
  } else {
    status.textContent = `Serving ${apps.map((a) => a.name).join(", ")}.`;
  }

  const sentiment = byKind("sentiment");
  setUp("sentiment", sentiment, async (text, result) =>
    renderLabel(result, await predictOne(sentiment[0].name, text), sentiment[0], "sentiment"));

  // Any other text classifier: one text, or a pair (`text`, `text_pair`); shown only when
  // one is served.
  const classification = byKind("classification");
  const model = $("classification-model");
  const pair = $("classification-pair");
  for (const app of classification) {
    model.append(el("option", { value: app.name, text: `${app.label} (${app.name})` }));
  }
  $("classification-card").hidden = classification.length === 0;
  $("classification-model-label").hidden = classification.length < 2;
  const chosen = () => classification.find((a) => a.name === model.value) || classification[0];
  const takesPair = (app) => Boolean(app && (app.inputs || []).includes("text_pair"));
  const showPair = () => { pair.hidden = !takesPair(chosen()); };
  model.addEventListener("change", showPair);
  showPair();
  setUp("classification", classification, async (text, result) => {
    const app = chosen();
    const instance = takesPair(app) ? { text, text_pair: pair.value.trim() } : text;
    renderLabel(result, await predictOne(app.name, instance), app, "classification");
  });

  const ner = byKind("ner");
  renderLegend();
  setUp("ner", ner, async (text, result) =>
    renderEntities(result, await predictOne(ner[0].name, text)));

  // Question answering: a question and the text to find its answer in (both sent); a model
  // picker when several are served.
  const qa = byKind("question_answering");
  const qaModel = $("question_answering-model");
  const qaContext = $("question_answering-context");
  for (const app of qa) {
    qaModel.append(el("option", { value: app.name, text: `${app.label} (${app.name})` }));
  }
  $("question_answering-model-label").hidden = qa.length < 2;
  setUp("question_answering", qa, async (question, result) => {
    const app = qa.find((a) => a.name === qaModel.value) || qa[0];
    const context = qaContext.value.trim();
    if (!context) throw new Error("Type the text to find the answer in.");
    renderAnswer(result, await predictOne(app.name, { question, context }), context);
  });
  qaContext.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      $("question_answering-run").click();
    }
  });

  // Ask your documents: a search index with a reader; its `answer` signature gives the
  // answer and its document, its serving_default the closest documents (both asked at once).
  const ask = byKind("ask_documents");
  const askModel = $("ask_documents-model");
  for (const app of ask) {
    askModel.append(el("option", { value: app.name, text: `${app.label} (${app.name})` }));
  }
  $("ask_documents-card").hidden = ask.length === 0;
  $("ask_documents-model-label").hidden = ask.length < 2;
  setUp("ask_documents", ask, async (question, result) => {
    const app = ask.find((a) => a.name === askModel.value) || ask[0];
    const [found, top] = await Promise.all([predictOne(app.name, question, "answer"),
      predictOne(app.name, question)]);
    renderDocumentAnswer(result, found, top);
  });

  const translation = byKind("translation");
  const select = $("translation-direction");
  for (const app of translation) select.append(el("option", { value: app.name, text: app.label }));
  $("translation-direction-label").hidden = translation.length < 2;
  setUp("translation", translation, async (text, result) => {
    const app = translation.find((a) => a.name === select.value) || translation[0];
    const prediction = await predictOne(app.name, text);
    renderGenerated(result, typeof prediction === "string" ? prediction
      : prediction[app.output || "translation"], "translation-output");
  });

  const summarization = byKind("summarization");
  setUp("summarization", summarization, async (text, result) => {
    const app = summarization[0];
    const prediction = await predictOne(app.name, text);
    renderGenerated(result, typeof prediction === "string" ? prediction
      : prediction[app.output || "summary"], "summarization-output");
  });

  // Write with the language model: Generate calls `generate` with the settings typed in,
  // Score calls `score_text`; both read the text as typed (a space or a newline at its end
  // changes what follows). The settings start from the export's (its metadata); a picker when
  // several are served.
  const lm = byKind("language_model");
  const lmModel = $("language_model-model");
  const lmInput = $("language_model-input");
  for (const app of lm) {
    lmModel.append(el("option", { value: app.name, text: `${app.label} (${app.name})` }));
  }
  $("language_model-card").hidden = lm.length === 0;
  $("language_model-model-label").hidden = lm.length < 2;
  const lmChosen = () => lm.find((a) => a.name === lmModel.value) || lm[0];
  const lmDefaults = () => {
    const app = lmChosen();
    if (!app) return;
    for (const [name, value] of Object.entries(app.settings || {})) {
      if (GENERATE_SETTINGS.includes(name)) $(`language_model-${name}`).value = String(value);
    }
    const tokens = $("language_model-max_new_tokens");
    if (Number.isInteger(app.max_new_tokens)) tokens.max = String(app.max_new_tokens);
    else tokens.removeAttribute("max");
  };
  lmModel.addEventListener("change", lmDefaults);
  lmDefaults();
  setUp("language_model", lm, async (_, result) => {
    const prompt = lmInput.value;
    const settings = generateSettings();
    const out = await predictColumns(lmChosen().name, { prompt: [prompt], ...settings },
      "generate");
    renderCompletion(result, prompt, out.completion[0], out.num_tokens[0],
      settings.max_new_tokens);
  });
  const score = $("language_model-score");
  score.disabled = lm.length === 0;
  if (lm.length) {
    score.addEventListener("click", cardAction("language_model", score, async (_, result) =>
      renderScore(result, await predictOne(lmChosen().name, lmInput.value, "score_text"))));
  }
  document.body.dataset.ready = "true";
}

main();
