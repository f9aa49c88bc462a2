"""A distillation teacher's logits on a task's texts, computed once and cached.

The teacher is a classifier export (any version directory of `apps.classify` or
`apps.sentiment`): its `serving_default` signature tokenizes raw text itself,
so a student with another vocabulary can learn from it too. Its probabilities
give the logits up to a constant per row (`log p`), which is all a softmax at
any temperature sees. Texts are run in batches of similar length (less
padding), with a progress bar; the result is cached as `.npy` under the run's
`work_dir`, named by a fingerprint of the teacher and the texts, so a resumed
or repeated run does not run the teacher again.

Example:
>>> logits = teacher_logits("saved_models/sentiment/3", texts, cache_dir="runs/student")
>>> logits.shape
(len(texts), 2)
"""

import hashlib
import os
import time

import numpy as np
import tensorflow as tf
import tqdm
from absl import logging

from bertlab.export.versioned_export import read_metadata
from bertlab.storage import atomic_file

# Log-probabilities below this are clipped (a float32 softmax can underflow to 0).
MIN_PROBABILITY = 1e-30


def _fingerprint(teacher_dir, texts, pairs):
    digest = hashlib.sha256()
    model_file = os.path.join(teacher_dir, "saved_model.pb")
    stat = os.stat(model_file)
    digest.update(f"{os.path.realpath(teacher_dir)}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    for text in pairs or ():
        digest.update(text.encode("utf-8", "surrogatepass") + b"\1")
    return digest.hexdigest()[:16]


def _run_teacher(teacher_dir, texts, pairs, batch_size):
    signature = tf.saved_model.load(teacher_dir).signatures["serving_default"]
    order = np.argsort([len(t) + (len(pairs[i]) if pairs else 0)
                        for i, t in enumerate(texts)], kind="stable")
    logits = None
    with tqdm.tqdm(total=len(texts), desc="teacher logits", unit="text",
                   disable=None) as bar:
        for start in range(0, len(texts), batch_size):
            rows = order[start:start + batch_size]
            inputs = {"text": tf.constant([texts[i] for i in rows])}
            if pairs:
                inputs["text_pair"] = tf.constant([pairs[i] for i in rows])
            probabilities = signature(**inputs)["probabilities"].numpy()
            if logits is None:
                logits = np.zeros((len(texts), probabilities.shape[1]), np.float32)
            logits[rows] = np.log(np.maximum(probabilities, MIN_PROBABILITY))
            bar.update(len(rows))
    return logits


def teacher_logits(teacher_dir, texts, pairs=None, cache_dir=None, batch_size=128):
    """float32 `[len(texts), classes]` logits of the teacher export on `texts`.

    Args:
      teacher_dir: a classifier export's version directory.
      texts: the texts (list of str); `pairs`: the second texts of a pair
        classifier, or None.
      cache_dir: where the result is cached (None: not cached).
      batch_size: texts per teacher call.

    Raises:
      ValueError: the export is not a classifier with class probabilities.
    """
    metadata = read_metadata(teacher_dir)
    if metadata.get("task") != "text_classification" or metadata.get("head") != \
            "classification":
        raise ValueError(f"{teacher_dir} is not a classifier export (task "
                         f"{metadata.get('task')!r}, head {metadata.get('head')!r}); a "
                         "teacher must output class probabilities.")
    if bool(metadata.get("text_pair")) != (pairs is not None):
        kind = "text pairs" if metadata.get("text_pair") else "single texts"
        raise ValueError(f"The teacher {teacher_dir} classifies {kind}; the student's data "
                         "must be alike.")
    if not texts:
        return np.zeros((0, len(metadata["class_names"])), np.float32)
    path = None
    if cache_dir:
        path = os.path.join(cache_dir, f"teacher_logits-{_fingerprint(teacher_dir, texts, pairs)}"
                                       ".npy")
        if os.path.isfile(path):
            logging.info("Teacher logits from %s", path)
            return np.load(path)
    start = time.time()
    logits = _run_teacher(teacher_dir, texts, pairs, batch_size)
    logging.info("Teacher logits of %d texts in %.0f s (%s)", len(texts), time.time() - start,
                 teacher_dir)
    if path:
        os.makedirs(cache_dir, exist_ok=True)
        with atomic_file(path) as temporary:
            np.save(temporary, logits)
    return logits
