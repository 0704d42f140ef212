"""The ``faceblur`` command line (see :mod:`.app`); importing this package registers every command."""

from . import benchmark, data, deblur, serve, train, weights  # noqa: F401  (each module registers its commands)
from .app import Exit, app, console, friendly, main_argv, out_console, run

__all__ = ["Exit", "app", "console", "friendly", "main_argv", "out_console", "run"]
