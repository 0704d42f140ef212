"""The ``faceblur`` command line: a thin Typer layer over the Python API.

This module holds what every command shares: the Typer apps, the consoles, the one-line error
handling (:func:`friendly`) and the entry point. Each command group lives in its own module of
this package (``deblur``, ``data``, ``train``, ``benchmark``, ``weights``) and registers itself on
import. Expected failures (bad input, missing weights, ...) print one ``error:`` line and exit
non-zero; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import functools
import sys

import typer
import typer.core
from rich.console import Console
from rich.markup import escape

from .. import __version__


def _flags_without_type(params):
    """On/off flags need no ``<bool>`` beside them in ``--help`` (typer shows one for every option)."""
    for p in params:
        if getattr(p, "is_flag", False):
            p.display_type_rich = lambda ctx: ""
    return params


class _Command(typer.core.TyperCommand):
    """Usage lines without typer's braces around required arguments (``faceblur deblur [OPTIONS] INPUT``)
    and flags without ``<bool>``."""

    def collect_usage_pieces(self, ctx):
        return [p.replace("{", "").replace("}", "") for p in super().collect_usage_pieces(ctx)]

    def get_params(self, ctx):
        return _flags_without_type(super().get_params(ctx))


#: The order of ``faceblur --help``: what people run most first.
COMMAND_ORDER = (
    "deblur",
    "serve",
    "benchmark",
    "train",
    "synthesize",
    "export-onnx",
    "weights",
    "list",
    "download",
    "verify",
)


class _Group(typer.core.TyperGroup):
    """Commands listed by :data:`COMMAND_ORDER` (deblur first), flags without ``<bool>``."""

    def list_commands(self, ctx):
        rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
        return sorted(self.commands, key=lambda n: (rank.get(n, len(rank)), n))

    def get_params(self, ctx):
        return _flags_without_type(super().get_params(ctx))


app = typer.Typer(
    help="Remove blur from faces in photos and videos, offline, on a CPU or a GPU.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_Group,
)
weights_app = typer.Typer(
    help="List, prefetch, verify and publish model weights (weights.toml).", no_args_is_help=True, cls=_Group
)
app.add_typer(weights_app, name="weights")


console = Console(stderr=True)
out_console = Console()
_state = {"debug": False}


class Exit(Exception):
    """A failure already explained to the user; carries the exit code."""

    def __init__(self, code: int):
        self.code = code


def friendly(fn):
    """Turn expected exceptions into one ``error:`` line and exit code 1 (2 for usage errors)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from ..imageio import ImageError
        from ..weights import WeightsError

        try:
            return fn(*args, **kwargs)
        except Exit as e:
            raise typer.Exit(e.code) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None
        except (
            ImageError,
            WeightsError,
            ValueError,
            FileExistsError,
            FileNotFoundError,
            PermissionError,
            RuntimeError,
            OSError,
        ) as err:
            if _state["debug"]:
                raise
            msg = str(err).splitlines()[0] if str(err) else type(err).__name__
            console.print(f"[red]error:[/] {escape(msg)}", highlight=False, soft_wrap=True)
            raise typer.Exit(2 if isinstance(err, ValueError) else 1) from None

    return wrapper


def _version(value: bool):
    if value:
        out_console.print(f"faceblur {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
):
    _state["debug"] = debug


def _progress(label: str, rate: bool = True, remaining: bool = False, **kw):
    """A rich progress bar: label, bar, done/total, the task's ``rate`` field, elapsed (or remaining) time."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [TextColumn(label), BarColumn(), MofNCompleteColumn()]
    if rate:
        columns.append(TextColumn("{task.fields[rate]}"))
    columns.append(TimeRemainingColumn() if remaining else TimeElapsedColumn())
    return Progress(*columns, console=console, **kw)


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (a scheduler, ``kill``) cleans up exactly as Ctrl-C does: temp files removed, exit 130."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main_argv(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code; a usage error is one ``error:`` line (exit 2), not a panel."""
    try:
        from typer._click import exceptions as click_errors  # typer >= 0.29 vendors click
    except ImportError:  # pragma: no cover - older typer on click
        from click import exceptions as click_errors  # type: ignore[no-redef]

    try:
        with _sigterm_as_interrupt():
            rv = app(args=argv, prog_name="faceblur", standalone_mode=False)
    except click_errors.NoArgsIsHelpError as err:
        out_console.print(err.ctx.get_help(), highlight=False, markup=False)
        return 2
    except click_errors.UsageError as err:
        hint = f" (see: {err.ctx.command_path} --help)" if err.ctx is not None else ""
        console.print(f"[red]error:[/] {escape(err.format_message())}{hint}", highlight=False, soft_wrap=True)
        return 2
    except click_errors.ClickException as err:
        console.print(f"[red]error:[/] {escape(err.format_message())}", highlight=False, soft_wrap=True)
        return err.exit_code
    except (typer.Abort, getattr(click_errors, "Abort", typer.Abort)):
        console.print("[yellow]interrupted[/]")
        return 130
    return rv if isinstance(rv, int) else 0


def run() -> None:  # console-script entry point
    sys.exit(main_argv())


if __name__ == "__main__":
    run()
