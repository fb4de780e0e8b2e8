"""The ``angioseg`` command line: thin commands that hand work to the library.

Each command lives in a small module that registers itself on :data:`app`; library imports happen
inside the commands so ``angioseg --help`` stays fast. :func:`main` maps every
:class:`~AngioSegLib.errors.AngioSegError` to one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys
import warnings

import typer

from AngioSegLib.cli import info, model, phantom, segment, train
from AngioSegLib.errors import AngioSegError

app = typer.Typer(
    name="angioseg",
    help="Segment and measure coronary arteries in X-ray angiography cine runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _show_version(value: bool) -> None:
    if value:
        from AngioSegLib import __version__

        print(f"angioseg {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Show the version and exit.", callback=_show_version, is_eager=True
    ),
) -> None:
    """Segment and measure coronary arteries in X-ray angiography cine runs."""


for _module in (info, phantom, train, model, segment):
    _module.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``angioseg`` console script."""
    # pydicom warns about each non-conformant value in old source files; the reader is tolerant
    # by design and reports what matters (calibration, timing) in the run's own warnings.
    warnings.filterwarnings("ignore", category=UserWarning, module="pydicom")
    try:
        app(args=argv, prog_name="angioseg")
    except AngioSegError as error:
        print(f"angioseg: error: {error}", file=sys.stderr)
        sys.exit(2)
