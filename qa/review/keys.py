"""The finding key: how a coach's verdict stays attached to its finding.

``finding_key(call_id, check, turn, source)`` is the SHA-1 (hex) of the JSON
array ``[call_id, check, turn, source]`` (UTF-8, no spaces, non-ASCII kept).
It leaves out the span, the score and the rule entry, so re-scoring the same
calls with the same rule or model version gives the same keys and earlier
verdicts show up again; a new ``source`` version (``lexicon:blame.v2``) is a
new finding that needs a new verdict. Two findings of one check, turn and
source in the same call share a key and so share a verdict.
"""

from __future__ import annotations

import hashlib
import json


def finding_key(call_id: str, check: str, turn: int, source: str) -> str:
    payload = json.dumps([str(call_id), str(check), int(turn), str(source)], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha1(payload.encode("utf-8")).hexdigest()
