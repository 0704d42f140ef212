"""Stopping a training run cleanly: Ctrl-C / SIGTERM become a request checked between steps.

Why a module of its own: the trainer, and any long-running loop after it, should stop at a step
boundary and save, never in the middle of a data worker's handshake.
"""

from __future__ import annotations

import signal


class StopRequest:
    """Ctrl-C / SIGTERM ask the loop to stop at the next step boundary; a second one stops at once.

    Raising straight from the handler could land while the main process is
    receiving a batch's shared-memory handle from a data worker and leave the
    worker printing a broken-handshake traceback; a flag checked between steps
    never interrupts that exchange.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = False
        self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def restore(self) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)


def ignore_stop_signals(worker_id: int) -> None:
    """Data workers leave Ctrl-C / SIGTERM to the main process.

    Otherwise ``pkill -f "faceblur train"`` or a terminal Ctrl-C can kill a worker
    first, and the main process dies on "worker killed" before it saves.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
