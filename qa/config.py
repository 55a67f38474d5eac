"""Run configuration: a YAML file validated by pydantic.

Every model forbids unknown keys, so a typo in a config file is an error that
names the key instead of a silent default. The default configuration ships
inside the package (``qa/conf/default.yaml``); a user file is merged over it
key by key, so it only needs the keys it changes.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from qa.types import CHECKS, TAGS, Speaker


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChecksConfig(_Strict):
    apology_window: int = Field(3, ge=1, description="agent turns after a complaint within which an apology must come")
    negative_ending_below: float = Field(0.0, ge=-1.0, le=1.0)


class ScorecardConfig(_Strict):
    deductions: dict[str, float]
    min_calls: int = Field(5, ge=1)

    @field_validator("deductions")
    @classmethod
    def _known_checks(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(v) - set(CHECKS))
        if unknown:
            raise ValueError(f"unknown check(s) {unknown}; known: {list(CHECKS)}")
        negative = sorted(k for k, x in v.items() if x < 0)
        if negative:
            raise ValueError(f"deductions must be >= 0: {negative}")
        return {c: float(v.get(c, 0.0)) for c in CHECKS}


class ColumnsConfig(_Strict):
    """Long tables (CSV/TSV/Parquet): canonical field -> column name in the file, matched case-insensitively."""

    call_id: str = Field("call_id", min_length=1)
    agent_id: str = Field("agent_id", min_length=1)
    turn: str = Field("turn", min_length=1)
    speaker: str = Field("speaker", min_length=1)
    text: str = Field("text", min_length=1)
    start_ms: str = Field("start_ms", min_length=1)
    end_ms: str = Field("end_ms", min_length=1)
    started_at: str = Field("started_at", min_length=1)
    queue: str = Field("queue", min_length=1)


class InputConfig(_Strict):
    max_turn_chars: int = Field(5000, ge=1)
    columns: ColumnsConfig = ColumnsConfig()


class ModelConfig(_Strict):
    """The transformer classifier behind the ``model`` recognizer."""

    path: str | None = Field(None, description="HF-layout classifier folder; None: $QA_MODEL or models/qa-small")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    batch_size: int = Field(256, ge=1)
    quantize: Literal["auto", "int8", "none"] = "none"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"


class Config(_Strict):
    version: int = 1
    recognizers: list[str]
    sentiment: str
    model: ModelConfig = ModelConfig()
    tag_thresholds: dict[str, float]
    role_map: dict[str, Speaker]
    checks: ChecksConfig = ChecksConfig()
    scorecard: ScorecardConfig
    input: InputConfig = InputConfig()

    @field_validator("tag_thresholds")
    @classmethod
    def _known_tags(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(v) - set(TAGS))
        if unknown:
            raise ValueError(f"unknown tag(s) {unknown}; known: {list(TAGS)}")
        bad = sorted(k for k, x in v.items() if not 0.0 <= x <= 1.0)
        if bad:
            raise ValueError(f"thresholds must lie in [0, 1]: {bad}")
        return {t: float(v.get(t, 0.5)) for t in TAGS}

    @field_validator("role_map")
    @classmethod
    def _fold_case(cls, v: dict[str, Speaker]) -> dict[str, Speaker]:
        return {k.strip().casefold(): s for k, s in v.items()}

    @model_validator(mode="after")
    def _version(self) -> "Config":
        if self.version != 1:
            raise ValueError(f"unsupported config version {self.version}; this qa reads version 1")
        return self

    def speaker(self, label: str) -> Speaker | None:
        """The speaker a raw label maps to, or None when the label is unknown."""
        return self.role_map.get(label.strip().casefold())

    def digest(self) -> str:
        """A stable hash of the effective configuration, for the manifest."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and key."""


def _default_dict() -> dict[str, Any]:
    text = resources.files("qa.conf").joinpath("default.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def load_config(path: str | Path | None = None) -> Config:
    """The default config, with the YAML file at ``path`` merged over it."""
    data = _default_dict()
    where = "built-in default config"
    if path is not None:
        where = str(path)
        try:
            user = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{where}: file not found") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{where}: not valid YAML: {e}") from None
        if user is None:
            user = {}
        if not isinstance(user, dict):
            raise ConfigError(f"{where}: expected a mapping at the top level")
        data = _merge(data, user)
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            key = ".".join(str(p) for p in err["loc"])
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            lines.append(f"{where}: {key}: {msg}")
        raise ConfigError("\n".join(lines)) from None
