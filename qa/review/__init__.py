"""Coach review: the local web app that records verdicts on findings, the
SQLite verdict store, and calibration from those verdicts.

- :mod:`qa.review.keys`: the stable finding key.
- :mod:`qa.review.store`: the versioned SQLite verdict store.
- :mod:`qa.review.data`: an output folder, read for review.
- :mod:`qa.review.app`: the Flask app (``qa review``).
- :mod:`qa.review.calibrate`: precision per check and source, labelled JSONL (``qa calibrate``).
"""

from qa.review.calibrate import Calibration, calibrate, export_jsonl, write_calibration
from qa.review.keys import finding_key
from qa.review.store import StoreError, Verdict, VerdictStore

__all__ = [
    "Calibration",
    "StoreError",
    "Verdict",
    "VerdictStore",
    "calibrate",
    "export_jsonl",
    "finding_key",
    "write_calibration",
]
