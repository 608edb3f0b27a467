"""Progress lines for long multi-step commands: each step with its elapsed time, and a
heartbeat while a step that gives no progress of its own (e.g. ONNX export) runs."""

import contextlib
import sys
import threading
import time
from typing import Iterator, Optional, TextIO


class StageLog:
    """Print ``[  12.3 s] message`` lines (time since creation) to ``stream``.

    Args:
        stream: where to print (default stderr, so that stdout stays for results).
        heartbeat (float): during :meth:`stage`, print a "still ..." line every this many
            seconds (``0``: never).
    """

    def __init__(self, stream: Optional[TextIO] = None, heartbeat: float = 15.0):
        self.stream = stream if stream is not None else sys.stderr
        self.heartbeat = heartbeat
        self.start = time.perf_counter()

    def say(self, message: str) -> None:
        elapsed = time.perf_counter() - self.start
        print(f"[{elapsed:7.1f} s] {message}", file=self.stream, flush=True)

    @contextlib.contextmanager
    def stage(self, what: str) -> Iterator[None]:
        """Announce ``what``, keep saying it is running, then say how long it took."""
        self.say(f"{what} ...")
        start = time.perf_counter()
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.heartbeat):
                self.say(f"  still {what} ({time.perf_counter() - start:.0f} s so far)")

        thread = threading.Thread(target=beat, daemon=True) if self.heartbeat > 0 else None
        if thread is not None:
            thread.start()
        try:
            yield
        finally:
            done.set()
            if thread is not None:
                thread.join()
        self.say(f"{what}: done in {time.perf_counter() - start:.1f} s")


@contextlib.contextmanager
def maybe_stage(log: Optional[StageLog], what: str) -> Iterator[None]:
    """``log.stage(what)``, or nothing when ``log`` is ``None``."""
    if log is None:
        yield
    else:
        with log.stage(what):
            yield
