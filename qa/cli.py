"""The ``qa`` command: a thin typer shell over the library.

Each command checks its arguments, calls one library function and reports
the result. Exit codes: 0 ok, 1 usage or setup error (bad arguments, missing
input, bad config, output folder exists), 2 input errors over
``--max-error-rate``, 3 internal error.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from qa import __version__
from qa.config import ConfigError, load_config
from qa.io.read import InputError
from qa.io.workdir import OutputLockedError, ResumeMismatchError
from qa.io.write import OutputExistsError
from qa.pipeline import EXIT_INTERNAL, EXIT_USAGE, WORKER_STAGES, RunResult
from qa.pipeline import Progress as RunProgress
from qa.pipeline import score as run_score
from qa.models import commands as model_commands
from qa.review.commands import calibrate, review

app = typer.Typer(
    name="qa",
    help="Quality monitoring for Chinese call-center transcripts: tags, QA checks and per-agent scorecards.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out_console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # error lines stay whole in logs


def _version(value: bool) -> None:
    if value:
        out_console.print(f"qa {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Quality monitoring for Chinese call-center transcripts."""


def _summary(result: RunResult) -> Table:
    table = Table(title=f"qa score -> {result.out_dir}", show_header=True)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("calls scored", str(result.calls))
    table.add_row("turns", str(result.turns))
    if result.resumed_chunks:
        table.add_row("chunks reused (--resume)", str(result.resumed_chunks))
    if result.skipped_other_partitions:
        table.add_row("calls outside --partition", str(result.skipped_other_partitions))
    table.add_row("records rejected", f"{result.errors} ({result.error_rate:.2%})")
    for reason, n in result.error_reasons.items():
        table.add_row(f"  rejected: {reason}", str(n))
    for check, n in result.findings.items():
        table.add_row(f"findings: {check}", str(n))
    workers = result.manifest.get("workers", 1)
    # With worker processes their stages overlap each other and this process's
    # wait for them ("workers"): the total is this process's own time.
    total = sum(v for k, v in result.timings.items() if workers == 1 or k not in WORKER_STAGES)
    for stage, secs in result.timings.items():
        if stage not in ("ray", "workers") or secs:
            summed = f" (summed over {workers} workers)" if workers > 1 and stage in WORKER_STAGES else ""
            table.add_row(f"time: {stage}{summed}", f"{secs:.2f} s")
    rate = result.turns / total if total else 0.0
    table.add_row("time: total", f"{total:.2f} s ({rate:,.0f} turns/s)")
    return table


@app.command()
def score(
    inputs: Annotated[list[Path], typer.Argument(
            help="Input files (JSONL, CSV/TSV/Parquet long tables, .txt dialogs, any of them .gz), "
            "folders (searched recursively) or glob patterns."
        )],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder to write.")],
    config: Annotated[
        Optional[Path], typer.Option("--config", "-c", help="YAML config merged over the built-in default.")
    ] = None,
    model: Annotated[
        Optional[Path],
        typer.Option("--model", help="Classifier folder in Hugging Face layout (default: the shipped models/qa-small)."),
    ] = None,
    device: Annotated[
        Optional[str], typer.Option("--device", help="auto | cpu | cuda for the classifier (default: the config's).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output folder.")] = False,
    max_error_rate: Annotated[
        float,
        typer.Option(
            "--max-error-rate", min=0.0, max=1.0, help="Exit with status 2 when the share of rejected records exceeds this."
        ),
    ] = 0.01,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue a killed run from its last finished chunk; a finished run is kept."),
    ] = False,
    partition: Annotated[
        Optional[str],
        typer.Option(
            "--partition",
            help="A date YYYY-MM-DD: write to OUT/<date> and score only calls started that day.",
        ),
    ] = None,
    mask_pii: Annotated[
        bool, typer.Option("--mask-pii", help="Mask phone, ID-card and bank-card numbers and e-mails in every output.")
    ] = False,
    report: Annotated[bool, typer.Option("--report/--no-report", help="Write report.html.")] = True,
    chunk_records: Annotated[
        int,
        typer.Option("--chunk-records", min=1, help="Records read and scored per chunk (memory vs. resume granularity)."),
    ] = 1000,
    engine: Annotated[
        str, typer.Option("--engine", help="local: this process; ray: per-call work on Ray Data actors.")
    ] = "local",
    ray_address: Annotated[
        Optional[str], typer.Option("--address", help="Ray cluster address (with --engine ray); default: a local Ray.")
    ] = None,
    ray_actors: Annotated[
        Optional[int], typer.Option("--ray-actors", min=1, help="Scoring actors (with --engine ray); default: one per CPU.")
    ] = None,
    workers: Annotated[
        str,
        typer.Option(
            "--workers",
            help="Local processes that score chunks (each loads the recognizers and gets an equal share of the "
                 "CPU threads); the tables are the same. auto: one per CPU, at most 4 and one per chunk; 1 when "
                 "the model runs on CUDA.",
        ),
    ] = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary table.")] = False,
) -> None:
    """Score calls and write turns, findings, calls, scorecards, errors and a manifest to OUT.

    Writes turns.parquet, findings.parquet, calls.parquet, scorecards.parquet,
    scorecards.csv, report.html, errors.jsonl and manifest.json. Bad records
    are reported in errors.jsonl (file, line, reason) and skipped; the rest is
    scored. Exit status: 0 ok, 1 usage or setup error, 2 rejected records over
    --max-error-rate, 3 internal error.
    """
    if device is not None and device not in ("auto", "cpu", "cuda"):
        err_console.print(f"[red]error:[/red] --device must be auto, cpu or cuda, got {device!r}")
        raise typer.Exit(EXIT_USAGE)
    if model is not None and not (model / "config.json").is_file():
        err_console.print(f"[red]error:[/red] {model}: not a Hugging Face model folder (no config.json)")
        raise typer.Exit(EXIT_USAGE)
    if engine not in ("local", "ray"):
        err_console.print(f"[red]error:[/red] --engine must be local or ray, got {engine!r}")
        raise typer.Exit(EXIT_USAGE)
    if workers != "auto" and not (workers.isdigit() and int(workers) >= 1):
        err_console.print(f"[red]error:[/red] --workers must be auto or a whole number >= 1, got {workers!r}")
        raise typer.Exit(EXIT_USAGE)
    if engine == "ray" and workers != "auto" and int(workers) > 1:
        err_console.print("[red]error:[/red] --workers is for the local engine; with --engine ray use --ray-actors")
        raise typer.Exit(EXIT_USAGE)
    if partition is not None:
        try:
            date.fromisoformat(partition)
        except ValueError:
            err_console.print(f"[red]error:[/red] --partition must be a date YYYY-MM-DD, got {partition!r}")
            raise typer.Exit(EXIT_USAGE) from None
    show = not quiet and err_console.is_terminal
    bar = Progress(
        TextColumn("scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("records  {task.fields[turns]} turns"),
        TimeElapsedColumn(),
        console=err_console,
        disable=not show,
    )
    task = bar.add_task("score", total=None, turns=0)

    def on_progress(p: RunProgress) -> None:
        bar.update(task, completed=p.calls + p.errors, total=p.records_total, turns=p.turns)

    try:
        cfg = load_config(config)
        overrides = {k: v for k, v in (("path", str(model) if model else None), ("device", device)) if v is not None}
        if overrides:
            cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update=overrides)})
        if cfg.model.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                err_console.print("[red]error:[/red] --device cuda, but torch sees no CUDA device on this machine")
                raise typer.Exit(EXIT_USAGE)
        with bar:
            result = run_score(
                inputs,
                out,
                config=cfg,
                config_path=config,
                force=force,
                resume=resume,
                partition=partition,
                mask_pii=mask_pii,
                report=report,
                chunk_records=chunk_records,
                engine=engine,
                workers=workers if workers == "auto" else int(workers),
                ray_address=ray_address,
                ray_actors=ray_actors,
                max_error_rate=max_error_rate,
                on_progress=on_progress,
            )
    except (InputError, OutputExistsError, OutputLockedError, ResumeMismatchError, ConfigError) as e:
        err_console.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(EXIT_USAGE) from None
    if not quiet:
        out_console.print(_summary(result))
    if result.exit_code:
        err_console.print(
            f"[red]error:[/red] {result.errors} of {result.records} records rejected "
            f"({result.error_rate:.2%} > --max-error-rate {max_error_rate:.2%}); see {result.out_dir / 'errors.jsonl'}",
            highlight=False,
        )
    raise typer.Exit(result.exit_code)


@app.command()
def rollup(
    outputs: Annotated[list[Path], typer.Argument(help="Finished `qa score` output folders (e.g. one per day).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder to write.")],
    by: Annotated[str, typer.Option("--by", help="Period of the scorecards besides the whole span: week or month.")] = "week",
    config: Annotated[
        Optional[Path], typer.Option("--config", "-c", help="YAML config (deductions are taken as scored; min_calls applies).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output folder.")] = False,
) -> None:
    """Merge several runs' calls into scorecards over the whole span and per week or month."""
    from qa.rollup import RollupInputError
    from qa.rollup import rollup as run_rollup

    if by not in ("week", "month"):
        err_console.print(f"[red]error:[/red] --by must be week or month, got {by!r}")
        raise typer.Exit(EXIT_USAGE)
    try:
        result = run_rollup(outputs, out, load_config(config), by=by, force=force)
    except (RollupInputError, OutputExistsError, OutputLockedError, ConfigError) as e:
        err_console.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(EXIT_USAGE) from None
    out_console.print(
        f"rolled up {result.folders} folders: {result.calls} calls of {result.agents} agents "
        f"({result.duplicate_calls} duplicate calls counted once) -> {result.out_dir}"
    )


@app.command()
def rules() -> None:
    """List the recognizers that configs can name, with their versions and files."""
    from qa.recognizers import registry

    table = Table(show_header=True)
    for col in ("name", "version", "file", "sha256"):
        table.add_column(col)
    for name in registry.known():
        info = registry.rule_info(name)
        table.add_row(name, str(info.get("version", "")), str(info.get("file", "")), str(info.get("sha256", ""))[:12])
    out_console.print(table)


app.command("review")(review)
app.command("calibrate")(calibrate)
app.command("train")(model_commands.train)
app.command("eval")(model_commands.eval)


def main() -> None:
    """Console entry point: usage errors exit 1 (not 2, which means input errors here)."""
    try:
        rc = app(standalone_mode=False)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(EXIT_USAGE)
    except typer.TyperException as e:  # usage errors: missing or bad options
        show = getattr(e, "show", None)
        if callable(show):
            show()
        else:
            err_console.print(f"error: {e}", highlight=False)
        sys.exit(EXIT_USAGE)
    except Exception as e:  # noqa: BLE001 - last line of defence for schedulers
        err_console.print(f"[red]internal error:[/red] {type(e).__name__}: {e}", highlight=False)
        sys.exit(EXIT_INTERNAL)
    sys.exit(rc if isinstance(rc, int) else 0)
