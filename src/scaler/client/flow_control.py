"""The client's side of back-pressure: submit credits (the scheduler's side is scheduler/flow_control.py).

Each task sent to the scheduler spends one credit; the scheduler grants credits (``SubmitCredit``) only
while it has room for more tasks. With none left, ``take`` asks for more once and blocks the submitting
thread until a grant arrives, the client fails or closes (the error it failed with is raised), or the
submit timeout expires (``SubmitTimeoutError``, naming the bound that was reached). Taking a credit that
is there costs one uncontended lock: this is on every submit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from scaler import errors
from scaler.protocol import messages as m


class SubmitCredits:
    def __init__(self, ask: Callable[[int], None]) -> None:
        self._ask = ask  # sends a SubmitCreditRequest for this many
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._credits = 0
        self._asked = False  # a request is out and unanswered: waiting threads do not send another
        self._failure: BaseException | None = None
        self._queue_limit = -1
        self._client_window = 0

    def add(self, credit: m.SubmitCredit) -> None:
        """A grant from the scheduler (the client's I/O thread)."""
        with self._lock:
            self._credits += credit.credits
            self._queue_limit, self._client_window = credit.queue_limit, credit.client_window
            self._asked = False
            self._changed.notify_all()

    def after_restart(self, resent: int) -> None:
        """A new scheduler took over and ``resent`` unfinished tasks went to it again: count credits as it does.

        With no queue limit it granted the whole window as this client connected (just before its first echo)
        and charged the resent tasks to it; with a limit it granted nothing yet, and the next ``take`` asks.
        Credits left over from the old scheduler are void either way: kept, they would send tasks it refuses.
        """
        with self._lock:
            self._credits = max(0, self._client_window - resent) if self._queue_limit < 0 else 0
            self._asked = False
            self._changed.notify_all()

    def fail(self, error: BaseException) -> None:
        """The client stopped: wake every waiting submit with ``error``."""
        with self._lock:
            self._failure = error
            self._changed.notify_all()

    def put_back(self, count: int) -> None:
        """Return credits taken but not spent."""
        if count > 0:
            with self._lock:
                self._credits += count
                self._changed.notify_all()

    def take(self, wanted: int, timeout: float | None, pending: Callable[[], int]) -> int:
        """Between 1 and ``wanted`` credits, blocking while there are none (``pending``: for the error text)."""
        with self._lock:
            if self._credits > 0 and self._failure is None:
                taken = min(wanted, self._credits)
                self._credits -= taken
                return taken
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                if self._failure is not None:
                    raise self._failure
                if self._credits > 0:
                    taken = min(wanted, self._credits)
                    self._credits -= taken
                    return taken
                if not self._asked:
                    self._asked = True
                    self._ask(wanted)
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise errors.SubmitTimeoutError(self._timeout_text(timeout, pending()))
                self._changed.wait(remaining)

    def _timeout_text(self, timeout: float | None, pending: int) -> str:
        if self._client_window == 0:
            bound = "the scheduler's queue is full (it has granted this client no room yet)"
        else:
            bound = f"the scheduler's limit of {self._client_window} unfinished tasks per client"
            if self._queue_limit >= 0:
                bound += f" or its queue limit (max_number_of_tasks_waiting={self._queue_limit})"
            bound += " is reached"
        return (
            f"no room for this task in the scheduler for {timeout or 0:g}s: this client has {pending} unfinished "
            f"tasks and {bound}; wait for results, raise the limit, or give the client a longer submit_timeout_seconds"
        )
