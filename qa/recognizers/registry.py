"""The explicit table of recognizers, by versioned registry name.

Names map to factories in the tables below; nothing registers itself on
import. ``get`` builds a recognizer once per process and caches it, so a rule
file is read, validated and compiled once. An unknown name raises
:class:`UnknownRecognizerError`, whose message lists the known names.

The rule recognizers read ``qa/rules/<id>.v<version>.yaml``;
:func:`rule_info` gives the id, version, file and sha256 of the file behind a
name, for the run manifest.

``model`` names the transformer classifier of the config's ``model`` section
(a local Hugging Face folder; by default the shipped ``models/qa-small``), as
a tag recognizer and as a sentiment recognizer. Its hits carry the model's own
versioned id (``model:qa-small.v1``) as their source.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

from qa.config import Config
from qa.recognizers.base import Recognizer, SentimentRecognizer
from qa.recognizers.rules import RULES_DIR, CompiledRules, RuleFileError, RuleRecognizer, load_rule_file
from qa.recognizers.sentiment_lexicon import CompiledSentiment, LexiconSentiment, load_sentiment_file

#: The admission recognizer feeds missing_apology; :func:`build` always includes it.
ADMISSION = "lexicon:admission.v1"

#: The classifier named by the config's ``model`` section.
MODEL = "model"

#: Rule recognizers: registry name -> rule file in ``qa/rules``.
RULE_FILES: dict[str, str] = {
    "lexicon:apology.v1": "apology.v1.yaml",
    "lexicon:blame.v1": "blame.v1.yaml",
    "lexicon:stalling.v1": "stalling.v1.yaml",
    "lexicon:thanks.v1": "thanks.v1.yaml",
    "lexicon:empathy.v1": "empathy.v1.yaml",
    "lexicon:solution.v1": "solution.v1.yaml",
    "lexicon:upsell.v1": "upsell.v1.yaml",
    "lexicon:complaint.v1": "complaint.v1.yaml",
    "lexicon:escalation.v1": "escalation.v1.yaml",
    ADMISSION: "admission.v1.yaml",
}

#: Sentiment recognizers: registry name -> lexicon file in ``qa/rules``.
SENTIMENT_FILES: dict[str, str] = {
    "lexicon:sentiment.v1": "sentiment.v1.yaml",
}


class UnknownRecognizerError(KeyError):
    """A registry name that is not in the table; the message lists the known names."""

    def __init__(self, name: str, kind: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(known)}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


def _rules(name: str, file: str) -> RuleRecognizer:
    compiled: CompiledRules = load_rule_file(RULES_DIR / file)
    if compiled.spec.name != name:
        raise RuleFileError(f"{compiled.path}: declares {compiled.spec.name}, registered as {name}")
    return RuleRecognizer(compiled)


def _sentiment(name: str, file: str) -> LexiconSentiment:
    compiled: CompiledSentiment = load_sentiment_file(RULES_DIR / file)
    if compiled.spec.name != name:
        raise RuleFileError(f"{compiled.path}: declares {compiled.spec.name}, registered as {name}")
    return LexiconSentiment(compiled)


#: name -> factory. Classifier recognizers (models) are added here by name too.
_RECOGNIZERS: dict[str, Callable[[], Recognizer]] = {
    name: functools.partial(_rules, name, file) for name, file in RULE_FILES.items()
}
_SENTIMENTS: dict[str, Callable[[], SentimentRecognizer]] = {
    name: functools.partial(_sentiment, name, file) for name, file in SENTIMENT_FILES.items()
}

_LOCK = threading.Lock()
_CACHE: dict[str, object] = {}


def known() -> list[str]:
    """Every registry name: recognizers, then sentiment recognizers, each sorted, then ``model``."""
    return sorted(_RECOGNIZERS) + sorted(_SENTIMENTS) + [MODEL]


def _cached(kind: str, name: str, factory: Callable[[], object]) -> object:
    with _LOCK:
        key = f"{kind}:{name}"
        if key not in _CACHE:
            _CACHE[key] = factory()
        return _CACHE[key]


def get(name: str) -> Recognizer:
    """The recognizer registered as ``name`` (built once per process)."""
    factory = _RECOGNIZERS.get(name)
    if factory is None:
        raise UnknownRecognizerError(name, "recognizer", sorted(_RECOGNIZERS))
    return _cached("recognizer", name, factory)  # type: ignore[return-value]


def get_sentiment(name: str) -> SentimentRecognizer:
    """The sentiment recognizer registered as ``name`` (built once per process)."""
    factory = _SENTIMENTS.get(name)
    if factory is None:
        raise UnknownRecognizerError(name, "sentiment recognizer", sorted(_SENTIMENTS))
    return _cached("sentiment", name, factory)  # type: ignore[return-value]


def _model_args(config: Config) -> dict:
    m = config.model
    return {"folder": m.path, "device": m.device, "quantize": m.quantize, "batch_size": m.batch_size,
            "precision": m.precision}


def build(config: Config) -> tuple[list[Recognizer], SentimentRecognizer]:
    """The recognizers and the sentiment recognizer a config names.

    ``lexicon:admission.v1`` is always included (appended when the config does
    not list it): the missing_apology check needs it. Unknown names fail here,
    before any input is read.
    """
    from qa.models.classifier import ModelRecognizer, ModelSentiment

    names = list(dict.fromkeys(config.recognizers))
    if ADMISSION not in names:
        names.append(ADMISSION)
    recognizers = [ModelRecognizer(**_model_args(config)) if n == MODEL else get(n) for n in names]
    sentiment = (
        ModelSentiment(**_model_args(config)) if config.sentiment == MODEL else get_sentiment(config.sentiment)
    )
    return recognizers, sentiment


def describe(config: Config) -> list[dict]:
    """What the manifest records of each recognizer a config runs: versions and file hashes."""
    from qa.models.classifier import model_info

    names = list(dict.fromkeys(config.recognizers + [ADMISSION, config.sentiment]))
    return [model_info(config.model.path) | {"name": MODEL, "precision": model_precision(config)} if n == MODEL
            else rule_info(n) for n in names]


def model_precision(config: Config) -> str:
    """The number format the config's classifier will run in on this machine
    (``fp32``, ``bf16``, ``fp16``, or ``int8`` for a quantized CPU model)."""
    from qa.models.classifier import quantizes, resolve_device, resolve_precision

    m = config.model
    try:
        device = resolve_device(m.device)
    except RuntimeError:  # cuda asked for and absent: the run itself reports it
        return m.precision
    if quantizes(device, m.quantize):
        return "int8"
    return resolve_precision(m.precision, device)


def rule_info(name: str) -> dict[str, str | int]:
    """Id, version, tag, file and sha256 of the data file behind a lexicon name, for the manifest."""
    if name in RULE_FILES:
        rules = get(name)
        assert isinstance(rules, RuleRecognizer)
        compiled = rules.rules
        return {
            "name": name,
            "id": compiled.spec.id,
            "version": compiled.spec.version,
            "tag": compiled.spec.tag,
            "file": f"qa/rules/{RULE_FILES[name]}",
            "sha256": compiled.sha256,
        }
    if name in SENTIMENT_FILES:
        senti = get_sentiment(name)
        assert isinstance(senti, LexiconSentiment)
        lex = senti.lexicon
        return {
            "name": name,
            "id": lex.spec.id,
            "version": lex.spec.version,
            "file": f"qa/rules/{SENTIMENT_FILES[name]}",
            "sha256": lex.sha256,
        }
    if name == MODEL:
        from qa.models.classifier import model_info

        return model_info() | {"name": MODEL}
    raise UnknownRecognizerError(name, "rule-based recognizer", sorted(RULE_FILES) + sorted(SENTIMENT_FILES))
