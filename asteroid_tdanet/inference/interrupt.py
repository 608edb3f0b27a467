"""SIGINT / SIGTERM as an exception, so that a run cleans up and reports before it exits.

Python turns SIGINT into ``KeyboardInterrupt`` but lets SIGTERM (``kill``, job schedulers,
``timeout``) end the process at once, leaving temporary files behind. Inside
:func:`signals_raise` both raise :class:`Interrupted`, which ``except Exception`` does not
catch, so ``finally`` blocks run; :func:`signals_deferred` holds them back over steps that
must not be cut in two (publishing a set of outputs, removing temporaries).
"""

import contextlib
import signal
import threading
from typing import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """The process received ``signum``; its exit status should be ``128 + signum``.

    ``completed``: when the signal arrived while a step that cannot be cut in two finished
    the interrupted call's work (e.g. a file's outputs being published), what that call
    would have returned; ``None`` when its work is not done.
    """

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.completed = None

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 SIGINT, 143 SIGTERM


# Signals that arrived inside signals_deferred blocks (handled at the outermost block's end).
_deferred = {"depth": 0, "pending": None}


def _raise(signum, frame):
    if _deferred["depth"]:
        _deferred["pending"] = signum
        return
    raise Interrupted(signum)


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """Raise :class:`Interrupted` on SIGINT and SIGTERM within the block (main thread only;
    elsewhere, or where signals cannot be handled, the block runs unchanged)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _raise) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM (as handled by :func:`signals_raise`) back until the block
    ends, then raise :class:`Interrupted` for them.

    Done in the handler rather than with a signal mask: the C-level handler may run in any
    thread (torch's worker threads do not block signals), and only the Python handler,
    always run by the main thread, can be relied on. So only the main thread's blocks defer:
    another thread's block (a separation in a worker) neither holds back a signal meant for
    the main thread's run nor receives it.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _deferred["depth"] += 1
    try:
        yield
    finally:
        _deferred["depth"] -= 1
        if not _deferred["depth"] and _deferred["pending"] is not None:
            signum, _deferred["pending"] = _deferred["pending"], None
            raise Interrupted(signum)
