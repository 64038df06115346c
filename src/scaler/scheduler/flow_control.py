"""Back-pressure on clients: submit credits.

A client may only send a task it holds a credit for; the scheduler hands out credits (``SubmitCredit``)
only while it has room, so a client that submits faster than the workers finish blocks in ``submit``
instead of growing the scheduler (and itself) without bound, or being refused.

Two bounds, both counted in tasks:

- ``client_window``: the most unfinished tasks (queued, waiting or on a worker) one client may have here,
  credits not yet used included. Always on (``DEFAULT_CLIENT_WINDOW`` unless configured), so even with
  no queue limit one client costs at most about ``client_window`` x (bytes per task) of scheduler memory;
- ``queue_limit`` (``--max-number-of-tasks-waiting``, -1 for none): the most tasks queued while the workers
  are saturated, shared by all clients. The room is the limit plus the workers' free slots (a task that goes
  straight to a worker does not wait), less the queued tasks and the credits not yet used, so the bound is
  exact; a task taken back from a worker (balancing, a worker death) may overshoot it until the queue drains.

A client learns its credits either up front (no queue limit: the whole window when it connects) or when it
asks (``SubmitCreditRequest``, sent once it has none left); afterwards every task it sends marks it as
wanting more, and ``grants`` tops it up, in batches, whenever room appears. With a queue limit each wanting
client is topped up to its share of the limit, so an idle client holds few credits. A client inside a task
(its priority is > 0) is never held back by the queue limit: its parents occupy the workers and may wait
for it, so holding it back could deadlock a full cluster. A graph (``GraphTask``) is not charged: it is
accepted whole, and its nodes count against the client's window like any unfinished task. Pure
bookkeeping: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from scaler.protocol import messages as m

# About 70 MB of scheduler memory per client at the per-task cost bench/backpressure.py reports (0.7 KB; 1 KB
# at the peak of a burst), and far more tasks in flight than a cluster needs to keep its workers busy.
DEFAULT_CLIENT_WINDOW = 100_000


@dataclass(slots=True)
class _Account:
    credits: int = 0  # granted and not yet seen used (some may be on their way here as tasks)
    nested: bool = False  # a client inside a task: exempt from the queue limit


class FlowControl:
    def __init__(self, queue_limit: int, client_window: int = DEFAULT_CLIENT_WINDOW) -> None:
        self.queue_limit = queue_limit
        self.client_window = max(1, client_window)
        self._accounts: dict[bytes, _Account] = {}
        self._wanting: dict[bytes, None] = {}  # clients to top up, oldest first (fair under a tight limit)
        self._outstanding = 0  # credits granted to all clients and not yet used

    @property
    def outstanding(self) -> int:
        return self._outstanding

    def client_joined(self, client_id: bytes) -> m.SubmitCredit | None:
        """Open an account; with no queue limit the client gets its whole window at once (no round trip)."""
        account = self._accounts[client_id] = _Account()
        if self.queue_limit >= 0:
            return None  # credits from a shared pool: only to clients that ask
        return self._grant(account, self.client_window)

    def client_left(self, client_id: bytes) -> None:
        account = self._accounts.pop(client_id, None)
        if account is not None:
            self._outstanding -= account.credits
        self._wanting.pop(client_id, None)

    def on_request(self, client_id: bytes, request: m.SubmitCreditRequest) -> None:
        account = self._accounts.get(client_id)
        if account is not None:
            account.nested = request.priority > 0
            self._wanting[client_id] = None

    def on_task(self, client_id: bytes, priority: int, queued: int, unfinished: int) -> str | None:
        """Charge a task that arrived to its client's credits; None to accept it, else why it is refused.

        A task sent without credit (a client that does not speak flow control, or a graph node) is accepted
        only while both bounds hold."""
        account = self._accounts.get(client_id)
        if account is None:
            return "client is not connected: send a ClientHeartbeat first"
        if account.credits > 0:
            account.credits -= 1
            self._outstanding -= 1
            self._wanting[client_id] = None
            return None
        if unfinished + account.credits >= self.client_window:
            return f"this client already has {unfinished} unfinished tasks (at most {self.client_window})"
        limit = self.queue_limit
        if limit >= 0 and priority <= 0 and queued + self._outstanding >= limit:
            return f"scheduler queue is full ({limit} tasks waiting)"
        return None

    def grants(
        self, queued: int, free_slots: Callable[[], int], unfinished: Callable[[bytes], int]
    ) -> list[tuple[bytes, m.SubmitCredit]]:
        """Top up the clients that want credits, as far as room allows; the messages to send them."""
        if not self._wanting:
            return []
        limit, window = self.queue_limit, self.client_window
        capacity = limit + free_slots() if limit >= 0 else window
        room = capacity - queued - self._outstanding
        share = window if limit < 0 else max(1, min(window, capacity // len(self._wanting)))
        out: list[tuple[bytes, m.SubmitCredit]] = []
        for client_id in list(self._wanting):
            account = self._accounts[client_id]
            exempt = limit < 0 or account.nested
            target = window if exempt else share
            if account.credits > target // 2:
                del self._wanting[client_id]  # plenty left: its next task marks it again
                continue
            amount = min(target - account.credits, window - unfinished(client_id) - account.credits)
            if not exempt:
                amount = min(amount, room)
            if amount <= 0 or (account.credits > 0 and amount < target // 4):
                continue  # no room yet, or too little to be worth a message while it still holds credits
            out.append((client_id, self._grant(account, amount)))
            if not exempt:
                room -= amount
            if account.credits > target // 2:
                del self._wanting[client_id]
        return out

    def _grant(self, account: _Account, amount: int) -> m.SubmitCredit:
        account.credits += amount
        self._outstanding += amount
        return m.SubmitCredit(amount, self.queue_limit, self.client_window)
