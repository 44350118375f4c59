"""Named waiting policies: the only way the harness waits for anything.

Each policy has a deadline; ``eventually`` reports the last state it observed
when the deadline passes, so a timeout always says *what* it was waiting on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_delay,
    wait_exponential,
    wait_fixed,
)

from harness import interrupts
from harness.errors import WaitTimeout

log = logging.getLogger(__name__)

T = TypeVar("T")


class NotYet(Exception):
    """Raised by a check that has not succeeded yet; its text is the state observed."""


def eventually(
    check: Callable[[], T],
    timeout_s: float,
    what: str,
    interval_s: float = 1.0,
    hint: str = "",
) -> T:
    """Call ``check`` until it stops raising ``NotYet`` or ``timeout_s`` passes.

    On timeout, raise ``WaitTimeout`` naming ``what`` and the last state seen.
    """
    last: list[str] = ["no attempt finished"]

    def _record(exc: BaseException) -> bool:
        if isinstance(exc, NotYet):
            last[0] = str(exc)
            # A worker thread's wait ends with the harness: a signal is being handled.
            return not interrupts.stopping.is_set()
        return False

    retrying = Retrying(
        stop=stop_after_delay(timeout_s),
        wait=wait_fixed(interval_s),
        retry=retry_if_exception(_record),
        reraise=False,
    )
    try:
        return retrying(check)
    except RetryError as exc:
        raise WaitTimeout(
            f"timed out after {timeout_s:.0f}s waiting for {what}; last state: {last[0]}",
            hint or "inspect the hosts named above, then rerun",
        ) from exc


def until_elapsed(started: float, min_s: float, what: str) -> None:
    """Wait until ``min_s`` seconds have passed since ``started`` (a ``time.monotonic()``),
    so that, e.g., a traffic generator has run long enough to be counted on."""

    def _long_enough() -> None:
        ran_s = time.monotonic() - started
        if ran_s < min_s:
            raise NotYet(f"{ran_s:.1f}s of at least {min_s}s")

    eventually(_long_enough, max(0.0, min_s - (time.monotonic() - started)) + 5, what, interval_s=0.2)


# Substrings of Docker errors that are known to be transient during swarm
# convergence. Nothing else is retried: an unknown error is a real failure.
TRANSIENT_DOCKER_ERRORS: tuple[str, ...] = (
    "rpc error: code = Unavailable",
    "rpc error: code = DeadlineExceeded",
    "The swarm does not have a leader",
    "context deadline exceeded",
    "update out of sequence",
    "network sandbox join failed",
    "is not on a network",
    "No such container",
    "attaching to network failed",
)


def is_transient_docker_error(text: str) -> bool:
    return any(marker in text for marker in TRANSIENT_DOCKER_ERRORS)


@contextmanager
def transient_is_not_yet(source: str) -> Iterator[None]:
    """Inside an ``eventually`` check: a known transient Docker error from ``source`` (a
    manager mid-election, a network still converging) is the state being waited out, so
    it becomes ``NotYet`` and is reported as the last state; any other error still fails."""
    try:
        yield
    except Exception as exc:
        if is_transient_docker_error(str(exc)):
            raise NotYet(f"{source}: {str(exc).splitlines()[0][:200]}") from None
        raise


def transient_docker_policy(timeout_s: float = 60.0) -> Retrying:
    """Retry a Docker call only while it fails with a known transient error."""

    def _transient(exc: BaseException) -> bool:
        transient = is_transient_docker_error(str(exc))
        if transient:
            log.info("transient docker error, retrying: %s", str(exc).splitlines()[0][:200])
        return transient

    return Retrying(
        stop=stop_after_delay(timeout_s),
        wait=wait_exponential(multiplier=0.5, max=5),
        retry=retry_if_exception(_transient),
        reraise=True,
    )
