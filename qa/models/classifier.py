"""Transformer classifiers behind the batched recognizer interface.

A model folder is an ordinary Hugging Face checkpoint of a sequence
classifier (``config.json``, weights, tokenizer files), so a user's own
fine-tuned Chinese checkpoint works, plus an optional ``qa_model.json`` that
this project's training writes:

```json
{"name": "qa-small", "version": 1,
 "tags": {"apology": 0, "blame": 1, ...},          # tag -> logit index (sigmoid)
 "sentiment": {"negative": 9, "neutral": 10, "positive": 11},  # softmax over these
 "thresholds": {"apology": 0.41, ...},             # tuned on the dev split
 "speaker_prefix": {"agent": "客服：", "customer": "客户："},
 "max_length": 128}
```

Without ``qa_model.json`` the labels come from ``config.id2label``: labels
named like a tag of LABELS.md are tags (sigmoid), labels named
negative/neutral/positive are the sentiment classes (softmax), the name is the
folder's name and version 1, every threshold 0.5.

Scores. A model hit's ``score`` is the tag probability rescaled piecewise
linearly so that the model's tuned threshold lands on 0.5 (``p == t`` ->
0.5, 0 -> 0, 1 -> 1); the pipeline's ``tag_thresholds`` (0.5 by default)
therefore apply the tuned thresholds, and raising one still trades recall for
precision. Sentiment score is ``p(positive) - p(negative)`` in [-1, 1].

The model loads once per process (:func:`load`), runs each distinct input
once per call of :meth:`LoadedModel.predict` (repeated turns such as 好的
share the result), under ``torch.inference_mode`` in batches whose inputs
all have one token length (no padding, so a turn's scores do not depend on
its batch). ``precision="auto"`` runs bf16 on CUDA (fp16 without bf16) and
on CPUs with native bf16 (:func:`cpu_has_native_bf16`), else fp32;
``quantize="int8"`` (or ``"auto"``) applies int8 dynamic quantization of the
Linear layers on CPU, faster, but a turn's scores then vary slightly with its
batch. :class:`ModelRecognizer` and :class:`ModelSentiment` over the same
folder share one loaded model and one forward pass per batch.
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from qa.types import SENTIMENTS, TAG_SPEAKER, TAGS, Hit, Sentiment

META_FILE = "qa_model.json"
Device = Literal["auto", "cpu", "cuda"]
Quantize = Literal["auto", "int8", "none"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]

#: The model that ships with the project, relative to the repository root.
DEFAULT_MODEL_NAME = "qa-small"


def default_model_path() -> Path:
    """``$QA_MODEL`` if set, else the shipped ``models/qa-small`` folder."""
    env = os.environ.get("QA_MODEL")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "models" / DEFAULT_MODEL_NAME


@dataclass(frozen=True)
class ModelMeta:
    name: str
    version: int
    tags: dict[str, int]  # tag -> logit index
    sentiment: dict[str, int] | None  # sentiment label -> logit index
    thresholds: dict[str, float]
    speaker_prefix: dict[str, str] = field(default_factory=dict)
    max_length: int = 128

    @property
    def source(self) -> str:
        return f"model:{self.name}.v{self.version}"


def read_meta(folder: str | Path, id2label: dict[int, str] | None = None) -> ModelMeta:
    """The model's label map and thresholds: ``qa_model.json``, else ``config.json``'s labels."""
    folder = Path(folder)
    p = folder / META_FILE
    if p.exists():
        d = json.loads(p.read_text(encoding="utf-8"))
        unknown = sorted(set(d.get("tags", {})) - set(TAG_SPEAKER))
        if unknown:
            raise ValueError(f"{p}: unknown tag(s) {unknown}; known: {list(TAG_SPEAKER)}")
        sent = d.get("sentiment")
        if sent is not None and set(sent) != set(SENTIMENTS):
            raise ValueError(f"{p}: sentiment labels must be {list(SENTIMENTS)}, got {sorted(sent)}")
        return ModelMeta(
            name=d["name"], version=int(d["version"]), tags={k: int(v) for k, v in d.get("tags", {}).items()},
            sentiment={k: int(v) for k, v in sent.items()} if sent else None,
            thresholds={t: float(d.get("thresholds", {}).get(t, 0.5)) for t in d.get("tags", {})},
            speaker_prefix=d.get("speaker_prefix") or {}, max_length=int(d.get("max_length", 128)),
        )
    if id2label is None:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        id2label = {int(k): v for k, v in (cfg.get("id2label") or {}).items()}
    tags: dict[str, int] = {}
    sent: dict[str, int] = {}
    for i, label in sorted(id2label.items()):
        lab = str(label).strip().lower()
        if lab in TAG_SPEAKER:
            tags[lab] = i
        elif lab in SENTIMENTS:
            sent[lab] = i
    if not tags and len(sent) != 3:
        raise ValueError(
            f"{folder}: no {META_FILE} and config.json's id2label names no tag of {list(TAGS)} "
            f"nor all of {list(SENTIMENTS)}: {id2label}"
        )
    return ModelMeta(
        name=folder.name, version=1, tags=tags, sentiment=sent if len(sent) == 3 else None,
        thresholds={t: 0.5 for t in tags},
    )


def write_meta(folder: str | Path, meta: ModelMeta) -> None:
    d = {
        "name": meta.name, "version": meta.version, "tags": meta.tags, "sentiment": meta.sentiment,
        "thresholds": {k: round(v, 4) for k, v in meta.thresholds.items()},
        "speaker_prefix": meta.speaker_prefix, "max_length": meta.max_length,
    }
    Path(folder, META_FILE).write_text(json.dumps(d, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def calibrate(p: np.ndarray, t: float) -> np.ndarray:
    """Rescale probabilities so that threshold ``t`` maps to 0.5, monotone, 0 -> 0, 1 -> 1."""
    t = min(max(t, 1e-6), 1 - 1e-6)
    return np.where(p < t, 0.5 * p / t, 0.5 + 0.5 * (p - t) / (1 - t))


def model_text(text: str, speaker: str | None, meta: ModelMeta, char_table: dict[int, str] | None) -> str:
    """What the model reads for one turn: speaker prefix + normalized text (+ char map)."""
    if speaker is not None and meta.speaker_prefix:
        text = meta.speaker_prefix.get(speaker, "") + text
    if char_table:
        text = text.translate(char_table)
    return text


def resolve_device(device: str | None) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``. ``None`` reads ``$QA_DEVICE``
    (default ``auto``), so a scheduler can pin the device without a config change."""
    import torch

    if device is None:
        device = os.environ.get("QA_DEVICE", "auto")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch sees no CUDA device")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}; use auto, cpu or cuda")
    return device


def _special_ids(tok) -> tuple[list[int], list[int]]:
    """The ids a tokenizer adds before and after a single sequence (e.g. ``<s>`` and ``</s>``)."""
    full = tok.encode("好").ids
    bare = tok.encode("好", add_special_tokens=False).ids
    for i in range(len(full) - len(bare) + 1):
        if full[i : i + len(bare)] == bare:
            return full[:i], full[i + len(bare):]
    return [], []


def quantizes(device: str, quantize: str) -> bool:
    """Whether int8 dynamic quantization applies: on CPU, with ``quantize`` int8 or auto."""
    return device == "cpu" and quantize in ("auto", "int8")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 matrix products in hardware (x86 AVX512-BF16 or
    AMX-BF16, read from ``/proc/cpuinfo``). Without them torch emulates bf16, slower than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    for line in flags.splitlines():
        if line.startswith("flags"):
            words = set(line.split(":", 1)[-1].split())
            return bool(words & {"avx512_bf16", "amx_bf16"})
    return False


def resolve_precision(precision: str, device: str, quantized: bool = False) -> str:
    """The number format the model runs in: ``fp32``, ``bf16`` or ``fp16``.

    ``auto``: on CUDA bf16 (fp16 where the GPU lacks bf16); on CPU bf16 where
    the CPU has native bf16 (:func:`cpu_has_native_bf16`), else fp32. An int8
    model keeps fp32 activations.
    """
    if precision not in ("auto", "fp32", "bf16", "fp16"):
        raise ValueError(f"unknown precision {precision!r}; use auto, fp32, bf16 or fp16")
    if quantized:
        return "fp32"
    if precision != "auto":
        return precision
    if device == "cuda":
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_has_native_bf16() else "fp32"


#: oneDNN's primitive cache and ideep's weight cache keep an entry per input shape;
#: batches of one token length come in many shapes, and in bf16 each entry holds
#: reordered weights, so a day's run grew by about 75 MB per chunk without a bound.
#: 32 entries keep the speed and flatten the memory; a user's own setting wins.
ONEDNN_CACHE_ENV = {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": "32", "LRU_CACHE_CAPACITY": "32"}


def bound_onednn_caches() -> None:
    """Cap oneDNN's per-shape caches (:data:`ONEDNN_CACHE_ENV`) unless the
    environment sets them; read when the first oneDNN kernel runs."""
    for k, v in ONEDNN_CACHE_ENV.items():
        os.environ.setdefault(k, v)


class LoadedModel:
    """A classifier folder loaded for inference: tokenizer, model, label map."""

    def __init__(self, folder: str | Path, device: Device | None = None, quantize: Quantize = "none",
                 batch_size: int = 256, precision: Precision = "auto"):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        from qa.models.e5 import load_char_map

        hf_logging.disable_progress_bar()  # no "Loading weights" bar in a scheduler's log
        hf_logging.set_verbosity_error()

        self.folder = Path(folder)
        if not (self.folder / "config.json").exists():
            raise FileNotFoundError(f"{self.folder}: not a model folder (no config.json)")
        self.device = resolve_device(device)
        if self.device == "cpu":
            bound_onednn_caches()
        self.tokenizer = AutoTokenizer.from_pretrained(self.folder)
        model = AutoModelForSequenceClassification.from_pretrained(self.folder)
        model.eval()
        self.meta = read_meta(self.folder, dict(model.config.id2label))
        self.char_table = load_char_map(self.folder)
        self.batch_size = batch_size
        self._backend = None
        if getattr(self.tokenizer, "is_fast", False) and self.tokenizer.pad_token_id is not None:
            from tokenizers import Tokenizer

            # The Rust tokenizer itself, without padding or truncation: long inputs are
            # split into windows (_windows) or cut (encode) here, special tokens kept.
            self._backend = Tokenizer.from_str(self.tokenizer.backend_tokenizer.to_str())
            self._backend.no_padding()
            self._backend.no_truncation()
            self._pad_id = int(self.tokenizer.pad_token_id)
            self._head, self._tail = _special_ids(self._backend)
            self._prefix_ids: dict[str, list[int]] = {}
            for speaker in self.meta.speaker_prefix:
                prefix = model_text("", speaker, self.meta, self.char_table)
                self._prefix_ids[prefix] = self._backend.encode(prefix, add_special_tokens=False).ids
        self.quantized = quantizes(self.device, quantize)
        self.precision = resolve_precision(precision, self.device, self.quantized)
        if self.quantized:
            with warnings.catch_warnings():  # torch.ao's deprecation notices; the API works
                warnings.simplefilter("ignore")
                model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        else:
            dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[self.precision]
            model = model.to(self.device, dtype=dtype)
        self.model = model
        self._memo_key: tuple | None = None
        self._memo_val: tuple[np.ndarray, np.ndarray | None] | None = None
        self._lock = threading.Lock()

    @property
    def _room(self) -> int:
        """Tokens of an input that fit ``max_length`` beside the special tokens."""
        return self.meta.max_length - len(self._head) - len(self._tail)

    def predict(self, texts: Sequence[str], speakers: Sequence[str | None] | None = None
                ) -> tuple[np.ndarray, np.ndarray | None]:
        """Tag probabilities ``[n, len(meta.tags)]`` (columns in ``meta.tags`` order) and
        sentiment probabilities ``[n, 3]`` (negative, neutral, positive) or None."""
        import torch

        speakers = speakers if speakers is not None else [None] * len(texts)
        # Identical inputs (好的, 嗯嗯, scripted greetings) run once and share their
        # scores; in fp32 a turn's scores do not depend on the rest of its batch.
        first: dict[str, int] = {}
        where = np.array([first.setdefault(model_text(t, s, self.meta, self.char_table), len(first))
                          for t, s in zip(texts, speakers)], dtype=np.int64)
        inputs = list(first)
        n = len(inputs)
        tag_idx = list(self.meta.tags.values())
        sent_idx = [self.meta.sentiment[s] for s in SENTIMENTS] if self.meta.sentiment else None
        tags = np.zeros((n, len(tag_idx)), dtype=np.float32)
        sent = np.zeros((n, 3), dtype=np.float32) if sent_idx else None
        windows = np.zeros(n, dtype=np.float32)
        with torch.inference_mode():
            for idx, enc in self._batches(inputs):
                enc = {k: v.to(self.device) for k, v in enc.items()}
                logits = self.model(**enc).logits.float().cpu()
                # A long input is read in several windows (its index repeats in idx):
                # a tag takes its highest probability over them, sentiment their mean.
                if tag_idx:
                    np.maximum.at(tags, idx, torch.sigmoid(logits[:, tag_idx]).numpy())
                if sent_idx:
                    np.add.at(sent, idx, torch.softmax(logits[:, sent_idx], dim=-1).numpy())
                np.add.at(windows, idx, 1.0)
        if sent is not None:
            sent /= np.maximum(windows, 1.0)[:, None]
        return tags[where], (sent[where] if sent is not None else None)

    def _windows(self, text: str, ids: list[int] | None = None) -> list[list[int]]:
        """The token ids the model reads for one input (``ids``: its tokens without
        special tokens, if already known): one sequence when it fits
        ``max_length``; otherwise consecutive windows of about equal length, each
        with the special tokens and the speaker prefix, so nothing is cut off."""
        if ids is None:
            ids = self._backend.encode(text, add_special_tokens=False).ids
        room = self._room
        if len(ids) <= room:
            return [self._head + ids + self._tail]
        prefix: list[int] = []
        for p, p_ids in self._prefix_ids.items():
            if p and text.startswith(p) and ids[: len(p_ids)] == p_ids:
                prefix = p_ids
                break
        body = ids[len(prefix):]
        width = room - len(prefix)
        if width <= 0:
            return [self._head + ids[:room] + self._tail]
        parts = -(-len(body) // width)
        cut = [len(body) * k // parts for k in range(parts + 1)]
        return [self._head + prefix + body[a:b] + self._tail for a, b in zip(cut, cut[1:])]

    def _batches(self, inputs: list[str]) -> Iterator[tuple[list[int], dict]]:
        """``(indices, model inputs)`` per batch of at most ``batch_size`` sequences.

        With a fast tokenizer every batch holds sequences of one token length, so
        nothing is padded: no compute is spent on padding, no attention mask is
        needed, and an input's scores do not depend on the inputs batched with
        it. An input longer than ``max_length`` tokens becomes several windows
        (:meth:`_windows`), its index repeated once per window. Without a fast
        tokenizer inputs are sorted by length, padded to each batch's longest
        and truncated to ``max_length``.
        """
        import torch

        if self._backend is None:
            order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]))
            for b in range(0, len(order), self.batch_size):
                idx = order[b : b + self.batch_size]
                yield idx, self.encode([inputs[i] for i in idx])
            return
        by_length: dict[int, list[tuple[int, list[int]]]] = {}
        encoded = self._backend.encode_batch(inputs, add_special_tokens=False)
        for i, (text, enc) in enumerate(zip(inputs, encoded)):
            for row in self._windows(text, enc.ids):
                by_length.setdefault(len(row), []).append((i, row))
        for length in sorted(by_length):
            same = by_length[length]
            for b in range(0, len(same), self.batch_size):
                rows = same[b : b + self.batch_size]
                batch = np.array([r for _, r in rows], dtype=np.int64).reshape(len(rows), length)
                yield [i for i, _ in rows], {"input_ids": torch.from_numpy(batch)}

    def encode(self, texts: list[str]) -> dict:
        """input_ids + attention_mask, padded to the longest, truncated to ``max_length``.

        Fast tokenizers go straight to their Rust backend (one ``encode_batch``), which
        gives the same ids as ``tokenizer(...)`` without its per-batch Python overhead.
        """
        import torch

        if self._backend is None:
            enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.meta.max_length,
                                 return_tensors="pt", return_token_type_ids=False)
            return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
        rows = [self._head + e.ids[: self._room] + self._tail
                for e in self._backend.encode_batch(texts, add_special_tokens=False)]
        width = max((len(r) for r in rows), default=0)
        ids = np.full((len(rows), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for r, row in enumerate(rows):
            ids[r, : len(row)] = row
            mask[r, : len(row)] = 1
        return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}

    def predict_turns(self, batch) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`predict` over prepared turns; the last batch's result is reused, so a
        recognizer and a sentiment scorer over the same model share one forward pass."""
        key = tuple((t.norm.text, t.speaker.value) for t in batch)
        with self._lock:
            if self._memo_key is not None and self._memo_key == key:
                return self._memo_val
        val = self.predict([k[0] for k in key], [k[1] for k in key])
        with self._lock:
            self._memo_key, self._memo_val = key, val
        return val


_LOADED: dict[tuple, LoadedModel] = {}
_LOAD_LOCK = threading.Lock()


def load(folder: str | Path | None = None, device: Device | None = None, quantize: Quantize = "none",
         batch_size: int = 256, precision: Precision = "auto") -> LoadedModel:
    """The model in ``folder`` (default: the shipped one), loaded once per process."""
    folder = Path(folder) if folder is not None else default_model_path()
    key = (str(folder.resolve()), resolve_device(device), quantize, batch_size, precision)
    with _LOAD_LOCK:
        if key not in _LOADED:
            _LOADED[key] = LoadedModel(folder, device, quantize, batch_size, precision)
        return _LOADED[key]


class ModelRecognizer:
    """Tags from a transformer classifier; each hit spans the whole turn.

    ``name`` (and ``Hit.source``) is ``"model:<name>.v<version>"`` from the
    folder's metadata; ``Hit.rule`` is the model's label. Only tags of the
    turn's own speaker are reported, and only with a (calibrated) score of at
    least ``min_score``.
    """

    def __init__(self, folder: str | Path | None = None, device: Device | None = None, quantize: Quantize = "none",
                 batch_size: int = 256, min_score: float = 0.25, precision: Precision = "auto"):
        self._args = (folder, device, quantize, batch_size, precision)
        self.min_score = min_score
        self._model: LoadedModel | None = None
        meta = read_meta(Path(folder) if folder is not None else default_model_path())
        self.name = meta.source
        self.tags = tuple(t for t in meta.tags if t in TAG_SPEAKER)

    @property
    def model(self) -> LoadedModel:
        if self._model is None:
            self._model = load(*self._args)
        return self._model

    def recognize(self, batch) -> list[list[Hit]]:
        if not batch:
            return []
        m = self.model
        probs, _ = m.predict_turns(batch)
        names = list(m.meta.tags)
        cal = np.stack([calibrate(probs[:, j], m.meta.thresholds.get(t, 0.5)) for j, t in enumerate(names)], 1)
        out: list[list[Hit]] = []
        for i, turn in enumerate(batch):
            hits: list[Hit] = []
            orig = turn.norm.original
            if orig:
                for j in np.nonzero(cal[i] >= self.min_score)[0]:
                    tag = names[j]
                    if TAG_SPEAKER.get(tag) is turn.speaker:
                        hits.append(Hit(tag=tag, turn=turn.turn, start=0, end=len(orig),
                                        score=round(float(cal[i, j]), 4), source=self.name,
                                        evidence=orig, rule=tag))
            out.append(hits)
        return out


class ModelSentiment:
    """Sentiment from the same kind of folder: label = argmax, score = p(pos) - p(neg)."""

    def __init__(self, folder: str | Path | None = None, device: Device | None = None, quantize: Quantize = "none",
                 batch_size: int = 256, precision: Precision = "auto"):
        self._args = (folder, device, quantize, batch_size, precision)
        self._model: LoadedModel | None = None
        meta = read_meta(Path(folder) if folder is not None else default_model_path())
        if meta.sentiment is None:
            raise ValueError(f"{meta.name}: the model has no sentiment labels ({list(SENTIMENTS)})")
        self.name = meta.source

    @property
    def model(self) -> LoadedModel:
        if self._model is None:
            self._model = load(*self._args)
        return self._model

    def score(self, batch) -> list[Sentiment]:
        if not batch:
            return []
        _, sent = self.model.predict_turns(batch)
        labels = sent.argmax(1)
        values = sent[:, 2] - sent[:, 0]
        return [Sentiment(label=SENTIMENTS[int(k)], score=round(float(v), 4), source=self.name)
                for k, v in zip(labels, values)]


def model_info(folder: str | Path | None = None) -> dict:
    """Name, version, folder and sha256 of the weights of a model folder, for the run manifest."""
    import hashlib

    folder = Path(folder) if folder is not None else default_model_path()
    meta = read_meta(folder)
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    h = hashlib.sha256()
    for w in weights:
        with open(w, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return {"name": meta.source, "id": meta.name, "version": meta.version, "folder": str(folder),
            "files": [w.name for w in weights], "sha256": h.hexdigest()}
