"""Turning results into tables or JSON, and errors into exit codes. The only place that prints."""

from __future__ import annotations

import logging
from typing import Any, Callable, Sequence, TypeVar

import typer

T = TypeVar("T")


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def emit_json(data: Any) -> None:
    from graft._config import dumps

    typer.echo(dumps(data))


#: Widest a table printed into a file or a pipe gets (a log, ``graft demo | tee demo.log``).
PIPED_MAX_WIDTH = 200


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.table import Table

    t = Table(title=title)
    for col in columns:
        t.add_column(col)
    for row in rows:
        t.add_row(*[_fmt(v) for v in row])
    _console_for(t).print(t)


def _console_for(renderable: Any) -> Any:
    """A terminal's console as it is. Into a file or a pipe rich would assume 80 columns and wrap
    every cell over several lines; there the table gets its natural width instead (80 to
    ``PIPED_MAX_WIDTH`` columns), unless ``COLUMNS`` says otherwise."""
    import os

    from rich.console import Console

    console = Console()
    if console.is_terminal or os.environ.get("COLUMNS"):
        return console
    natural = Console(width=PIPED_MAX_WIDTH).measure(renderable).maximum
    return Console(width=max(80, min(natural, PIPED_MAX_WIDTH)))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def run(fn: Callable[[], T]) -> T:
    """Call into the API; a GraftError becomes a message on stderr and its exit code (1 or 2)."""
    from graft.errors import GraftError

    try:
        return fn()
    except GraftError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("interrupted; outputs are written atomically, re-run to resume", err=True)
        raise typer.Exit(130) from None


def metrics_rows(metrics: dict[str, Any]) -> list[list[Any]]:
    return [[split, m.get("accuracy"), m.get("macro_f1"), m.get("n")] for split, m in metrics.items() if isinstance(m, dict)]


def echo(text: str) -> None:
    typer.echo(text)


def note(text: str) -> None:
    """A progress or status line on stderr, written at once (a log shows it as it happens)."""
    typer.echo(text, err=True)


def warn(text: str) -> None:
    typer.echo(text, err=True)

