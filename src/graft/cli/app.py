"""The Typer application and the options every command shares. Command modules register on ``app``."""

from __future__ import annotations

import json
from typing import Any

import typer

from graft.cli import output as out

app = typer.Typer(
    name="graft",
    help="Transfer learning from pretrained models: choose, transfer, adapt, prove, ship.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
datasets_app = typer.Typer(help="Built-in datasets: list them, or write one out as ordinary files.",
                           invoke_without_command=True)
app.add_typer(datasets_app, name="datasets")

JSON = typer.Option(False, "--json", help="Print the result as JSON.")
BACKBONE = typer.Option("mobilenet_v2", "--backbone", "-b", help="Zoo name (see `graft models`), timm:/torchvision:/hf:/st:/vectors: source, "
                        "model:DIR (a saved graft model as the start), or an architecture name.")


def _weights_arg(value: Any) -> Any:
    """``--weights random`` is the word, not a file named so (unless such a file exists)."""
    from pathlib import Path

    return "random" if value is not None and str(value) == "random" and not Path("random").exists() else value


WEIGHTS = typer.Option(None, "--weights", callback=_weights_arg,
                       help="Local checkpoint (.safetensors or plain-tensor .pt/.pth) to use instead of the registered "
                            "weights, or 'random' for deliberate random initialisation (a from-scratch baseline).")
IMAGE_SIZE = typer.Option(None, "--image-size",
                          help="Input resolution for image backbones, 16..2048 px (default: the backbone's).")
DOWNLOAD = typer.Option(False, "--allow-download", help="Allow fetching weights from a hub (off by default: nothing downloads silently).")
VERBOSE = typer.Option(False, "--verbose", "-v", help="Log progress details.")
LABEL_COLUMN = typer.Option("label", "--label-column", help="Table data: the column that holds the labels.")
TEXT_COLUMN = typer.Option("text", "--text-column", help="Text table data: the column that holds the texts.")
OVERWRITE = typer.Option(False, "--overwrite", help="Replace an existing --out (only the files graft wrote there; "
                         "your own files in a model or dataset folder are kept). Without it, an existing output is an error.")


@app.callback()
def _main(verbose: bool = VERBOSE) -> None:
    out.setup_logging(verbose)


def parse_options(pairs: list[str] | None) -> dict[str, Any]:
    """``["eps=0.1", "balance=equal"]`` → ``{"eps": 0.1, "balance": "equal"}`` (values read as JSON when they parse)."""
    from graft.errors import UsageError

    options: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--option takes KEY=VALUE, got {pair!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options
