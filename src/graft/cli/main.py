"""``graft``: the command line. Each command parses strings, calls the Python API, prints a table
or JSON. Exit codes: 0 ok, 1 runtime error, 2 usage error.

Commands live in one module per stage of the pipeline; importing them registers them on ``app``.
Modules import only typer at the top, so ``graft --help`` answers without torch.
"""

from __future__ import annotations

import importlib

from graft.cli.app import app

COMMAND_MODULES = ("graft.cli.core", "graft.cli.train", "graft.cli.choose", "graft.cli.adapt", "graft.cli.ship",
                   "graft.cli.report", "graft.cli.story", "graft.cli.tabular", "graft.cli.recommend")

for _module in COMMAND_MODULES:
    try:
        importlib.import_module(_module)
    except ModuleNotFoundError as exc:  # a stage whose commands are not written yet
        if exc.name != _module:
            raise


def main() -> None:
    app()


if __name__ == "__main__":
    main()
