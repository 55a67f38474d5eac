"""Rule recognizers: versioned lexicon and regex files, one per tag.

A rule file ``qa/rules/<id>.v<version>.yaml`` holds, for one tag and the one
speaker that tag applies to (``TAG_SPEAKER``):

- ``lexicon``: groups of literal terms, each group with its own score;
- ``patterns``: regular expressions, each with its own score; ``{NAME}`` in a
  regex expands to ``defs[NAME]`` (upper-case names only, so ``{2}`` stays a
  quantifier); literal whitespace in a regex is dropped, as the matching view
  has none;
- ``negation``: cue regexes and a window; a cue ending at most ``window``
  characters before a match, in the same clause, suppresses it (不是您的问题 is
  not blame) unless the entry says ``negatable: false``;
- ``quoting``: whether text inside quotation marks and reported speech
  (你们就说 ..., 之前的同事说 ...) counts as the speaker's own act; reported
  speech runs from its cue to the next clause break, ``reported_max``
  characters, or a ``reported_end`` match (那我 / 我马上), whichever is first;
- ``exclusions``: hard negatives; a ``span`` exclusion drops the hits it
  overlaps, a ``turn`` exclusion drops every hit of the turn.

Entries may also require token boundaries (``boundary: true``, on jieba
tokens) and name ``unless`` regexes that veto the entry when found anywhere in
the turn.

All matching runs over the NORMALIZED text (simplified, half-width, lower
case), so traditional or full-width input matches simplified rules. Spaces
and the pure fillers 呃/嗯 are ignored while matching (ASR output splits
phrases with them), and 著/帐 fold to 着/账 (t2s keeps 著急, 帐单); hits are
mapped back to exact spans of the original text.

Files are validated once, at load: pydantic with ``extra="forbid"`` for the
structure, then every regex is compiled; any problem raises
:class:`RuleFileError` naming the file and the entry.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import call
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qa.recognizers.base import PreparedTurn
from qa.text.normalize import normalize
from qa.types import AUX_TAGS, TAG_SPEAKER, TAGS, Hit, Speaker

#: Folder of the shipped rule files.
RULES_DIR = Path(__file__).resolve().parent.parent / "rules"

#: Punctuation that ends a clause (after normalization: full-width ，！？；： are half-width).
CLAUSE_BREAKS = frozenset("。！？!?；;，,…\n")

#: Characters dropped from the matching view: whitespace and pure fillers.
_SKIP = frozenset(" \t\n呃嗯")

#: Variant characters that OpenCC t2s leaves alone (著急, 帐单) folded for matching
#: only; one character to one character, so offsets are unchanged.
_FOLD = str.maketrans({"著": "着", "帐": "账"})

#: Quotation pairs, after normalization (full-width ＂ has become ").
_QUOTES = {"“": "”", "「": "」", "『": "』", "‘": "’", '"': '"'}

_MACRO = re.compile(r"\{([A-Z][A-Z0-9_]*)\}")

#: Literal whitespace in a regex (not ``\s``): the matching view has none, so
#: it is dropped, which lets long alternations fold across YAML lines.
_WS = re.compile(r"(?<!\\)\s+")


class RuleFileError(ValueError):
    """A rule file that cannot be used; the message names the file and the entry."""


# --------------------------------------------------------------------------- schema


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _EntryBase(_Strict):
    id: str = Field(min_length=1)
    score: float = Field(gt=0.0, le=1.0)
    #: Whether the file's negation cues can suppress this entry.
    negatable: bool = True
    #: Match must start and end on jieba token boundaries.
    boundary: bool = False
    #: Override the file's quoting policy for this entry (True: quoted text counts).
    in_quotes: bool | None = None
    #: Regexes that veto this entry when they match anywhere in the turn.
    unless: list[str] = []
    note: str | None = None


class LexiconEntry(_EntryBase):
    terms: list[str] = Field(min_length=1)


class PatternEntry(_EntryBase):
    regex: str = Field(min_length=1)


class Negation(_Strict):
    cues: list[str] = Field(min_length=1)
    window: int = Field(4, ge=0, le=30)


class Quoting(_Strict):
    #: Text inside quotation marks counts as the speaker's own act.
    quotes: bool = False
    #: Reported speech (the region after a ``reported_cues`` match) counts.
    reported: bool = False
    reported_cues: list[str] = []
    #: Where the speaker resumes in their own voice (那我 / 我马上): reported speech ends there.
    reported_end: list[str] = []
    #: How far reported speech reaches after its cue, at most (it also ends at a clause break).
    reported_max: int = Field(16, ge=1, le=100)


class Exclusion(_Strict):
    id: str = Field(min_length=1)
    regex: str = Field(min_length=1)
    scope: Literal["span", "turn"] = "span"
    note: str | None = None


class RuleFile(_Strict):
    id: str = Field(pattern=r"^[a-z_]+$")
    version: int = Field(ge=1)
    tag: str
    speaker: Speaker
    description: str
    defs: dict[str, str] = {}
    negation: Negation | None = None
    quoting: Quoting = Quoting()
    lexicon: list[LexiconEntry] = []
    patterns: list[PatternEntry] = []
    exclusions: list[Exclusion] = []

    @property
    def name(self) -> str:
        """Registry name, used as ``Hit.source``."""
        return f"lexicon:{self.id}.v{self.version}"


# --------------------------------------------------------------------------- compiled form


@dataclass(frozen=True, slots=True)
class _Entry:
    id: str
    regex: re.Pattern[str]
    score: float
    negatable: bool
    boundary: bool
    in_quotes: bool | None
    unless: tuple[re.Pattern[str], ...]


@dataclass(frozen=True, slots=True)
class CompiledRules:
    """A validated rule file with every regex compiled."""

    spec: RuleFile
    path: Path
    sha256: str
    entries: tuple[_Entry, ...]
    negation: re.Pattern[str] | None
    window: int
    reported: re.Pattern[str] | None
    reported_end: re.Pattern[str] | None
    span_exclusions: tuple[re.Pattern[str], ...]
    turn_exclusions: tuple[re.Pattern[str], ...]


def _expand(regex: str, defs: dict[str, str], where: str) -> str:
    """Replace ``{NAME}`` with ``(?:defs[NAME])``; definitions may use earlier macros."""

    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in defs:
            raise RuleFileError(f"{where}: unknown macro {{{key}}}; defined: {sorted(defs)}")
        return f"(?:{defs[key]})"

    for _ in range(8):
        expanded = _MACRO.sub(sub, regex)
        if expanded == regex:
            return expanded
        regex = expanded
    raise RuleFileError(f"{where}: macros nest too deep (a definition refers to itself?)")


def _compile(regex: str, defs: dict[str, str], where: str) -> re.Pattern[str]:
    """Expand macros, drop literal whitespace, compile; errors name ``where``."""
    expanded = _WS.sub("", _expand(regex, defs, where))
    try:
        pattern = re.compile(expanded)
    except re.error as e:
        raise RuleFileError(f"{where}: bad regex {regex!r}: {e}") from None
    if pattern.match(""):
        raise RuleFileError(f"{where}: regex {regex!r} matches the empty string")
    return pattern


def _norm_term(term: str) -> str:
    """A term in the matching view: normalized, without spaces or fillers."""
    return "".join(ch for ch in normalize(term).text if ch not in _SKIP).translate(_FOLD)


def _format_validation(path: Path, raw: object, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = list(e["loc"])
        where = ".".join(str(p) for p in loc) or "(top level)"
        if len(loc) >= 2 and isinstance(raw, dict) and isinstance(loc[1], int):
            try:
                entry_id = raw[loc[0]][loc[1]].get("id")
            except (KeyError, IndexError, TypeError, AttributeError):
                entry_id = None
            if entry_id:
                where = f"{where} (entry {entry_id!r})"
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        lines.append(f"{path}: {where}: {msg}")
    return "\n".join(lines)


def load_rule_file(path: str | Path) -> CompiledRules:
    """Read, validate and compile one rule file; :class:`RuleFileError` names what is wrong."""
    path = Path(path)
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise RuleFileError(f"{path}: file not found") from None
    try:
        raw = yaml.safe_load(blob.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as e:
        raise RuleFileError(f"{path}: not valid utf-8 YAML: {e}") from None
    if not isinstance(raw, dict):
        raise RuleFileError(f"{path}: expected a mapping at the top level")
    try:
        spec = RuleFile.model_validate(raw)
    except ValidationError as e:
        raise RuleFileError(_format_validation(path, raw, e)) from None

    known = TAGS + AUX_TAGS
    if spec.tag not in known:
        raise RuleFileError(f"{path}: unknown tag {spec.tag!r}; known: {list(known)}")
    if spec.speaker != TAG_SPEAKER[spec.tag]:
        raise RuleFileError(
            f"{path}: tag {spec.tag!r} applies to {TAG_SPEAKER[spec.tag].value}, not {spec.speaker.value}"
        )
    expected = f"{spec.id}.v{spec.version}.yaml"
    if path.name != expected:
        raise RuleFileError(f"{path}: id and version say the file should be named {expected}")
    if not spec.lexicon and not spec.patterns:
        raise RuleFileError(f"{path}: no lexicon or patterns entries")

    seen: set[str] = set()
    entries: list[_Entry] = []
    for kind, items in (("lexicon", spec.lexicon), ("patterns", spec.patterns)):
        for i, item in enumerate(items):
            where = f"{path}: {kind}[{i}] (entry {item.id!r})"
            if item.id in seen:
                raise RuleFileError(f"{where}: duplicate entry id")
            seen.add(item.id)
            if isinstance(item, LexiconEntry):
                terms = sorted({_norm_term(t) for t in item.terms}, key=len, reverse=True)
                if "" in terms:
                    raise RuleFileError(f"{where}: empty term")
                regex = re.compile("|".join(re.escape(t) for t in terms))
            else:
                regex = _compile(item.regex, spec.defs, where)
            unless = tuple(_compile(u, spec.defs, f"{where} unless") for u in item.unless)
            entries.append(_Entry(item.id, regex, item.score, item.negatable, item.boundary, item.in_quotes, unless))

    negation = None
    if spec.negation is not None:
        negation = _compile("|".join(f"(?:{c})" for c in spec.negation.cues), spec.defs, f"{path}: negation.cues")
    reported = None
    if spec.quoting.reported_cues:
        reported = _compile(
            "|".join(f"(?:{c})" for c in spec.quoting.reported_cues), spec.defs, f"{path}: quoting.reported_cues"
        )
    reported_end = None
    if spec.quoting.reported_end:
        reported_end = _compile(
            "|".join(f"(?:{c})" for c in spec.quoting.reported_end), spec.defs, f"{path}: quoting.reported_end"
        )
    span_ex: list[re.Pattern[str]] = []
    turn_ex: list[re.Pattern[str]] = []
    for i, ex in enumerate(spec.exclusions):
        compiled = _compile(ex.regex, spec.defs, f"{path}: exclusions[{i}] (entry {ex.id!r})")
        (span_ex if ex.scope == "span" else turn_ex).append(compiled)

    return CompiledRules(
        spec=spec,
        path=path,
        sha256=hashlib.sha256(blob).hexdigest(),
        entries=tuple(entries),
        negation=negation,
        window=spec.negation.window if spec.negation else 0,
        reported=reported,
        reported_end=reported_end,
        span_exclusions=tuple(span_ex),
        turn_exclusions=tuple(turn_ex),
    )


# --------------------------------------------------------------------------- matching view


@dataclass(frozen=True, slots=True)
class MatchView:
    """Normalized text without spaces and fillers, mapped back to normalized offsets."""

    text: str
    pos: tuple[int, ...]  # view index -> normalized index
    breaks: tuple[int, ...]  # view indices of clause-break characters
    quoted: tuple[tuple[int, int], ...]  # view spans inside quotation marks


def _view(norm_text: str) -> MatchView:
    chars: list[str] = []
    pos: list[int] = []
    for i, ch in enumerate(norm_text):
        if ch not in _SKIP:
            chars.append(ch)
            pos.append(i)
    text = "".join(chars).translate(_FOLD)
    breaks = tuple(i for i, ch in enumerate(text) if ch in CLAUSE_BREAKS)
    quoted: list[tuple[int, int]] = []
    i = 0
    while i < len(text):
        close = _QUOTES.get(text[i])
        if close is not None:
            j = text.find(close, i + 1)
            if j > i:
                quoted.append((i + 1, j))
                i = j + 1
                continue
        i += 1
    return MatchView(text, tuple(pos), breaks, tuple(quoted))


def _break_between(view: MatchView, a: int, b: int) -> bool:
    """Whether a clause break lies in view[a:b]."""
    return any(a <= k < b for k in view.breaks)


def _clause_end(view: MatchView, start: int) -> int:
    for k in view.breaks:
        if k >= start:
            return k
    return len(view.text)


def _overlaps(s: int, e: int, spans: Sequence[tuple[int, int]]) -> bool:
    return any(s < b and a < e for a, b in spans)


# --------------------------------------------------------------------------- recognizer


class RuleRecognizer:
    """Runs one compiled rule file over batches of prepared turns."""

    def __init__(self, rules: CompiledRules) -> None:
        self.rules = rules
        self.name: str = rules.spec.name
        self.tags: tuple[str, ...] = (rules.spec.tag,)
        self._searches = tuple(e.regex.search for e in rules.entries)

    def recognize(self, batch: Sequence[PreparedTurn]) -> list[list[Hit]]:
        """Hits for each turn of ``batch``, spans in original text coordinates."""
        return [self.find(turn) for turn in batch]

    def find(self, turn: PreparedTurn) -> list[Hit]:
        """Hits in one turn; empty for a turn of the other speaker."""
        rules = self.rules
        if turn.speaker != rules.spec.speaker or not turn.norm.text:
            return []
        view = turn.match_view
        if view is None:
            view = turn.match_view = _view(turn.norm.text)
        text = view.text

        # 1. What the entries match (most turns stop here with nothing).
        candidates: list[tuple[_Entry, int, int]] = []
        bounds: set[int] | None = None
        # Every entry's search runs in C (most find nothing); only entries that matched reach Python.
        for entry in compress(rules.entries, map(call, self._searches, repeat(text))):
            spans = [m.span() for m in entry.regex.finditer(text) if m.end() > m.start()]
            if not spans or any(u.search(text) for u in entry.unless):
                continue
            if entry.boundary:
                if bounds is None:
                    bounds = {t.start for t in turn.tokens} | {t.end for t in turn.tokens}
                spans = [(s, e) for s, e in spans if view.pos[s] in bounds and view.pos[e - 1] + 1 in bounds]
            candidates.extend((entry, s, e) for s, e in spans)
        if not candidates or any(p.search(text) for p in rules.turn_exclusions):
            return []

        # 2. Drop what is quoted or reported, negated, or a hard negative.
        excluded = [m.span() for p in rules.span_exclusions for m in p.finditer(text)]
        ignored = self._ignored_regions(view)
        cues = [m.span() for m in rules.negation.finditer(text)] if rules.negation else []
        found: list[tuple[int, int, float, str]] = []
        for entry, s, e in candidates:
            if entry.in_quotes is not True:
                regions = ignored["policy" if entry.in_quotes is None else "all"]
                if _overlaps(s, s + 1, regions):
                    continue
            if entry.negatable and self._negated(view, s, cues):
                continue
            if _overlaps(s, e, excluded):
                continue
            found.append((s, e, entry.score, entry.id))
        return [self._hit(turn, view, s, e, score, rule) for s, e, score, rule in _merge(found)]

    def _ignored_regions(self, view: MatchView) -> dict[str, list[tuple[int, int]]]:
        """Regions not counted as the speaker's own act.

        ``"policy"``: what the file's ``quoting`` says to ignore (for entries
        without ``in_quotes``); ``"all"``: quotes and reported speech both (for
        entries with ``in_quotes: false``).
        """
        q = self.rules.spec.quoting
        reported: list[tuple[int, int]] = []
        if self.rules.reported is not None:
            for m in self.rules.reported.finditer(view.text):
                end = min(_clause_end(view, m.end()), m.end() + q.reported_max)
                if self.rules.reported_end is not None:
                    resume = self.rules.reported_end.search(view.text, m.end(), end)
                    if resume is not None:
                        end = resume.start()
                if end > m.end():
                    reported.append((m.end(), end))
        quoted = list(view.quoted)
        policy = ([] if q.quotes else quoted) + ([] if q.reported else reported)
        return {"policy": policy, "all": quoted + reported}

    def _negated(self, view: MatchView, start: int, cues: list[tuple[int, int]]) -> bool:
        """A negation cue starts before ``start`` and ends within the window, in the same clause."""
        for cs, ce in cues:
            if cs < start and ce >= start - self.rules.window and not _break_between(view, min(ce, start), start):
                return True
        return False

    def _hit(self, turn: PreparedTurn, view: MatchView, s: int, e: int, score: float, rule: str) -> Hit:
        ns, ne = view.pos[s], view.pos[e - 1] + 1
        start, end, evidence = turn.norm.evidence(ns, ne)
        return Hit(
            tag=self.rules.spec.tag,
            turn=turn.turn,
            start=start,
            end=end,
            score=round(score, 4),
            source=self.name,
            evidence=evidence,
            rule=rule,
        )


def _merge(found: list[tuple[int, int, float, str]]) -> list[tuple[int, int, float, str]]:
    """Overlapping spans merged into their union, keeping the highest score and
    the id of the entry that scored it (the first such entry on ties)."""
    merged: list[tuple[int, int, float, str]] = []
    for s, e, score, rule in sorted(found, key=lambda f: (f[0], f[1], -f[2], f[3])):
        if merged and s < merged[-1][1]:
            ps, pe, pscore, prule = merged[-1]
            best = (pscore, prule) if pscore >= score else (score, rule)
            merged[-1] = (ps, max(pe, e), *best)
        else:
            merged.append((s, e, score, rule))
    return merged
