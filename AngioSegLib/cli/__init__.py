"""The ``angioseg`` command line: thin commands that hand work to the library.

Each command lives in a small module that registers itself on :data:`app`; library imports happen
inside the commands so ``angioseg --help`` stays fast. :func:`main` maps every
:class:`~AngioSegLib.errors.AngioSegError` and every usage error (unknown option, bad value,
missing option) to one line on stderr and exit code 2, and turns SIGTERM (and SIGHUP) into the
same interrupt as Ctrl-C, so that every ``finally`` removes its unfinished outputs; a stopped run
says so in one line and exits with 128 + the signal's number.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import warnings
from collections.abc import Iterator

import typer

try:  # typer ≥ 0.24 carries its own copy of click
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older typer on click
    from click import exceptions as click_exceptions

from AngioSegLib.cli import batch, info, listen, model, phantom, segment, train
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


for _module in (info, phantom, train, model, segment, batch, listen):
    _module.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``angioseg`` console script; always ends with :func:`sys.exit`."""
    # pydicom warns about each non-conformant value in old source files; the reader is tolerant
    # by design and reports what matters (calibration, timing) in the run's own warnings.
    warnings.filterwarnings("ignore", category=UserWarning, module="pydicom")
    # highdicom doubts a one-part patient name ("Anonymized") copied from the source into SEG/SR;
    # the name is the source's, carried over as it is
    warnings.filterwarnings("ignore", message=r"The string .* is unlikely to represent the "
                            r"intended person name", category=UserWarning)
    with _signals_as_interrupt() as received:
        try:
            code = _run(argv)
        except KeyboardInterrupt:  # a signal just as the command ended
            code = INTERRUPTED
    if code == INTERRUPTED:
        number = received[0] if received else signal.SIGINT
        _say(f"stopped by {signal.Signals(number).name}; unfinished outputs were removed")
        code = 128 + number
    sys.exit(code)


INTERRUPTED = 130
"""The exit code typer gives a KeyboardInterrupt (Ctrl-C, or SIGTERM/SIGHUP, see below)."""


def _run(argv: list[str] | None) -> int:
    """Run the app; return its exit code after printing any error as one line."""
    try:
        returned = app(args=argv, prog_name="angioseg", standalone_mode=False)
    except AngioSegError as error:
        return _say(str(error))
    except click_exceptions.UsageError as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # the help is already printed
            return error.exit_code
        return _say(_usage_message(error), error.exit_code)
    except click_exceptions.ClickException as error:  # e.g. a file option that cannot be opened
        return _say(" ".join(error.format_message().split()), error.exit_code)
    except typer.Abort:
        return _say("aborted", 1)
    # A command returns None; --help, --version and typer.Exit give an exit code.
    return returned if isinstance(returned, int) else 0


def _say(message: str, code: int = 2) -> int:
    print(f"angioseg: error: {message}", file=sys.stderr)
    return code


def _usage_message(error: click_exceptions.UsageError) -> str:
    """Click's message on one line, with where to find the usage."""
    message = " ".join(error.format_message().split())
    ctx = error.ctx
    if ctx is not None and ctx.command.get_help_option(ctx) is not None:
        helped = f"{ctx.command_path} {ctx.help_option_names[0]}"
        message = f"{message.removesuffix('.')} (see '{helped}')"
    return message


class _Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised as Ctrl-C is, so that every ``finally`` cleans up."""


@contextlib.contextmanager
def _signals_as_interrupt() -> Iterator[list[int]]:
    """Within the block SIGTERM and SIGHUP raise :class:`_Stopped`; yield the signals received.

    Only in the main thread (Python delivers signals there); the previous handlers come back
    afterwards, so :func:`main` called in-process (tests) leaves the caller's handlers alone.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def stop(number: int, _frame) -> None:
        received.append(number)
        raise _Stopped

    numbers = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    previous = {}
    for number in numbers:
        if signal.getsignal(number) is signal.SIG_IGN:
            continue  # started under nohup or the like: keep ignoring it
        previous[number] = signal.signal(number, stop)
    try:
        yield received
    finally:
        for number, handler in previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
