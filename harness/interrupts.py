"""SIGINT, SIGTERM and SIGHUP all end the harness the same way: through its teardown.

CI systems cancel a job with SIGTERM (some with SIGHUP when the session goes), and
Python's default for those is to die on the spot, leaving machines, namespaces and
a run record that still says "provisioning". Turning each of them into a
``KeyboardInterrupt`` subclass in the main thread sends every signal down the one
path Ctrl-C already takes. A second signal while that path runs is only logged: a
cancelling CI runner often sends SIGINT and then SIGTERM, and the second must not
cut the teardown the first one started.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

log = logging.getLogger(__name__)

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

# Set by the first handled signal; long waits in worker threads check it so that a
# thread pool can be shut down without waiting out a three-minute SSH deadline.
stopping = threading.Event()


class Interrupted(KeyboardInterrupt):
    """The harness was told to stop by a signal; it exits with 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def exit_code(exc: KeyboardInterrupt) -> int:
    """128 + the signal; a bare KeyboardInterrupt (Python's own SIGINT) is 130."""
    return exc.exit_code if isinstance(exc, Interrupted) else 128 + signal.SIGINT


def signal_name(exc: KeyboardInterrupt) -> str:
    return exc.name if isinstance(exc, Interrupted) else "SIGINT"


def _handler(signum: int, frame: FrameType | None) -> None:
    if stopping.is_set():
        log.warning("%s received while stopping: the teardown goes on", signal.Signals(signum).name)
        return
    stopping.set()
    raise Interrupted(signum)


@contextmanager
def handled() -> Iterator[None]:
    """Route the handled signals to ``Interrupted`` for the duration of one CLI command.

    Outside the main thread (an embedding program's worker) signals cannot be
    handled, so nothing is installed there and the program's own handling stays.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping.clear()
    previous = {sig: signal.signal(sig, _handler) for sig in HANDLED}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def stop_child(proc: subprocess.Popen[str], exc: KeyboardInterrupt, what: str, grace_s: float) -> None:
    """Ask a child (Terraform, pytest) to run its own cleanup, then wait for it.

    A terminal's Ctrl-C reaches the whole process group, so the child already has its
    SIGINT: a second one would make Terraform or pytest abandon their cleanup. A
    SIGTERM or SIGHUP sent to the harness alone has not reached the child: forward it
    as SIGINT, the signal both tools clean up on.
    """
    if proc.poll() is not None:
        return
    log.warning("interrupted: waiting for %s to stop", what)
    if signal_name(exc) == "SIGINT":
        try:
            proc.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            pass
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        log.warning("%s did not stop within %.0fs: killing it", what, grace_s)
        proc.kill()
        proc.wait()
