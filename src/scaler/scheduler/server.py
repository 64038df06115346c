"""The scheduler process: sockets and timers around ``SchedulerCore``.

Sockets: a ROUTER bound at the scheduler address (clients, workers and managers all connect to it), a
DEALER to the object storage server (to free the objects of departed clients), and a PUB at the monitor
address. When no object storage address is configured, an object storage server is started as a child
process at the scheduler's port + 1 and stopped with the scheduler.

If that child cannot start (its port is taken), the scheduler does not start either: it exits with one line.
If it dies later, it is restarted at the same address (``scaler.scheduler.storage_child``): clients re-upload
what they still hold, and what they did not keep fails with ``ObjectLostError``; a storage that keeps dying
makes the scheduler exit with one line (``StorageDiedError``).

Every second the scheduler tells object storage which owners (clients) it knows (``ObjectOwnersAlive``), so
that storage can reclaim the objects of owners that are gone even when a deletion was never sent.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import zmq

from scaler.ids import owner_prefix, short
from scaler.io.address import Address
from scaler.io.logs import RateLimitedLog
from scaler.io.loop import make_event_loop
from scaler.io.memory import TRIM_INTERVAL_SECONDS, release_free_memory
from scaler.io.sockets import (
    MonitorSubscriptions,
    bind_publisher,
    bind_router,
    connect_dealer,
    has_input,
    receive_routed,
    send_routed,
)
from scaler.protocol import codec
from scaler.protocol import messages as m
from scaler.scheduler.core import SchedulerCore, SchedulerSettings
from scaler.scheduler.policy.content import DEFAULT_POLICY_CONTENT
from scaler.scheduler.replies import rejection
from scaler.scheduler.status import STATUS_INTERVAL_SECONDS, StatusReporter
from scaler.scheduler.storage_child import StorageChild, StorageDiedError
from scaler.security.credentials import ENVIRONMENT_VARIABLE, Identity, ServerCredentials
from scaler.security.exposure import warn_if_exposed
from scaler.security.handshake_log import HandshakeFailureLog
from scaler.security.keyring import keyring_of, stop_authentication
from scaler.security.roles import SchedulerGuard
from scaler.security.runtime import cluster_file, withdraw

if TYPE_CHECKING:
    from scaler.config.sections.scheduler import SchedulerConfig
    from scaler.scheduler.policy.engine import PolicyEngine

logger = logging.getLogger("scaler.scheduler")

TICK_SECONDS = 0.1
SEND_ONLY_SUFFIX = b"|tx"  # see scaler.client.uploads
_DRAIN_LIMIT = 2000
MAX_CONTROL_MESSAGE_BYTES = 1 << 30
OWNER_LIST_SECONDS = 1.0
_drop_log = RateLimitedLog(logger)


@dataclass(frozen=True)
class SchedulerOptions:
    address: str
    object_storage_address: str | None = None
    advertised_object_storage_address: str | None = None
    monitor_address: str | None = None
    settings: SchedulerSettings | None = None
    policy_engine_type: str = "simple"
    policy_content: str = DEFAULT_POLICY_CONTENT
    event_loop: str = "builtin"
    object_storage_max_bytes_per_owner: int = 0  # for the object storage server the scheduler starts
    io_threads: int = 1
    status_report_interval_seconds: float = STATUS_INTERVAL_SECONDS
    credentials: ServerCredentials | None = None  # None: no authentication, no encryption (loopback only!)


class SchedulerServer:
    def __init__(self, options: SchedulerOptions) -> None:
        address = Address.parse(options.address)
        self.address = str(address)
        self.object_storage_address = options.object_storage_address or str(address.with_port_offset(1))
        self.monitor_address = options.monitor_address or str(address.with_port_offset(2))
        self._storage_child: StorageChild | None = None
        if options.object_storage_address is None:
            quota = options.object_storage_max_bytes_per_owner
            self._storage_child = StorageChild(self.object_storage_address, quota, options.credentials)
        try:
            self._setup(options)
        except BaseException:
            if self._storage_child is not None:
                self._storage_child.stop()
            raise

    def _setup(self, options: SchedulerOptions) -> None:
        advertised = options.advertised_object_storage_address or self.object_storage_address
        settings = options.settings or SchedulerSettings(object_storage_address=advertised)
        if settings.object_storage_address != advertised:
            settings = _replace_storage(settings, advertised)
        self.core = SchedulerCore(settings, _make_policy(options.policy_engine_type, options.policy_content))

        self._context: zmq.Context[Any] = zmq.Context(io_threads=options.io_threads)
        credentials = options.credentials
        self._guard = SchedulerGuard(keyring_of(self._context, credentials)) if credentials else None
        self._reload_requested = False
        if credentials is None:
            warn_if_exposed(Address.parse(self.address), "the scheduler")
            # A launcher's file for a secured cluster that was here before (it crashed) would make this user's
            # clients offer credentials to a scheduler that has none.
            withdraw([cluster_file(self.address)])
        self._router = bind_router(self._context, self.address, MAX_CONTROL_MESSAGE_BYTES, credentials=credentials)
        identity = b"Scheduler|" + os.urandom(4).hex().encode()
        own_key = credentials.as_peer() if credentials else None
        self._storage = connect_dealer(self._context, self.object_storage_address, identity, own_key)
        self._monitor = bind_publisher(self._context, self.monitor_address, credentials)
        self._subscriptions = MonitorSubscriptions(self._monitor)
        self._owner_prefixes: dict[bytes, bytes] = {}  # client id -> its owner prefix, computed once
        self._listed_joins = 0  # core.clients_joined when storage was last told the owners
        self.failure: StorageDiedError | None = None

        self._closed = False
        self.loop = make_event_loop(options.event_loop)
        self.loop.add_reader(self._router, self._on_router)
        self._refusals = HandshakeFailureLog(self._router, self.loop, "the scheduler") if credentials else None
        self.loop.add_reader(self._storage, self._on_storage)
        self.loop.add_reader(self._monitor, self._subscriptions.on_readable)
        self.loop.call_every(TICK_SECONDS, self._on_tick)
        self.loop.call_every(OWNER_LIST_SECONDS, self._list_owners, first_delay=0)
        self.loop.call_every(TRIM_INTERVAL_SECONDS, release_free_memory)  # what a burst left in zmq's heap goes back
        self._status = StatusReporter(self.core, self.address)
        self.loop.call_every(options.status_report_interval_seconds, self._publish_status)
        self.loop.after_each_wake(self._flush)

    def run(self) -> None:
        logger.info(
            "scheduler listening on %s (object storage %s, monitor %s, pid %d)",
            self.address,
            self.object_storage_address,
            self.monitor_address,
            os.getpid(),
        )
        try:
            self.loop.run()
        finally:
            self._flush()
            self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._refusals is not None:
            self._refusals.close()
        for socket in (self._router, self._storage, self._monitor):
            socket.close(linger=0)
        stop_authentication(self._context)
        self._context.term()
        if self._storage_child is not None:
            self._storage_child.stop()
        logger.info("scheduler on %s stopped", self.address)

    def _on_router(self) -> None:
        """Drain the router. A secured scheduler checks every message against its sender's key and role first."""
        router, core, guard, now = self._router, self.core, self._guard, time.monotonic()
        for count in range(_DRAIN_LIMIT):
            if count and not has_input(router):
                return
            try:  # a secured server reads the sender's key (User-Id) from the payload's zmq frame
                peer, payload, extra = receive_routed(router, frame=guard is not None)
            except zmq.Again:
                return
            if peer.endswith(SEND_ONLY_SUFFIX):  # a client's send-only socket speaks for the client itself
                peer = peer[: -len(SEND_ONLY_SUFFIX)]
            if extra:
                _drop_log.warning(f"dropping {extra + 2}-frame message from {short(peer)}")
                continue
            key, who = "", None  # who: the sender's identity, on a secured scheduler
            if guard is not None:
                key = str(payload.get("User-Id"))
                admitted = guard.admit(peer, key)
                if isinstance(admitted, str):
                    continue
                payload, who = payload.buffer, admitted
            try:
                messages = codec.decode(payload)
            except codec.DecodeError as error:
                _drop_log.warning(f"dropping message from {short(peer)}", str(error))
                continue
            if who is None:
                for message in messages:
                    core.handle(peer, message, now)
            else:
                self._handle_checked(peer, key, who, messages, now)

    def _handle_checked(self, peer: bytes, key: str, who: Identity, messages: list[Any], now: float) -> None:
        assert self._guard is not None
        for message in messages:
            refusal = self._guard.check(peer, key, who, message, self._client_of_running)
            if refusal is None:
                self.core.handle(peer, message, now)
            elif isinstance(message, m.ClientDisconnect):
                send_routed(self._router, peer, codec.encode_one(m.ShutdownResponse(False, refusal)))
            elif isinstance(message, m.Task):  # an answer, so that the sender's future does not hang
                send_routed(self._router, peer, codec.encode_one(rejection(message.task_id, refusal)))
            elif isinstance(message, m.GraphTask):  # likewise, one answer per requested result
                answers = [rejection(target, refusal) for target in message.targets]
                send_routed(self._router, peer, codec.encode(answers))

    def _client_of_running(self, task_id: bytes, workers: Collection[bytes]) -> bytes | None:
        """The client of ``task_id`` if it is running (assigned) on one of ``workers``, else None."""
        record = self.core.tasks.get(task_id)
        return record.task.client_id if record is not None and record.worker in workers else None

    def _check_revocations(self, guard: SchedulerGuard) -> None:
        if self._reload_requested:
            self._reload_requested = False
            guard.keyring.reload()
        guard.keyring.maybe_reload()
        guard.prune(self.core.clients, lambda: set(self.core.connected_peers()))
        now = time.monotonic()
        for key in guard.keyring.take_revoked():
            for peer in guard.forget(key):
                if peer in self.core.workers:
                    logger.warning("disconnecting worker %s: its credentials were revoked", short(peer))
                    send_routed(self._router, peer, codec.encode_one(m.WorkerShutdown("credentials revoked")))
                    self.core.handle(peer, m.WorkerDisconnect("credentials revoked"), now)
                elif peer in self.core.clients:
                    logger.warning("disconnecting client %s: its credentials were revoked", short(peer))
                    self.core.handle(peer, m.ClientDisconnect(False), now)

    def request_key_reload(self) -> None:
        """Re-read the authorized keys at the next tick (safe to call from a signal handler)."""
        self._reload_requested = True

    def _on_storage(self) -> None:
        while True:  # acknowledgements of deletions: nothing to do with them but drain
            try:
                self._storage.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return

    def _on_tick(self) -> None:
        if self._guard is not None:
            self._check_revocations(self._guard)
        self.core.tick(time.monotonic())
        child = self._storage_child
        if child is not None and self.failure is None:
            try:
                restarting = child.check(time.monotonic())
            except StorageDiedError as error:
                self._stop_for(error)
                return
            fd = child.restarting_fd
            if restarting and fd is not None:  # the loop goes on serving everyone while it starts
                self.loop.add_reader(fd, lambda: self._on_storage_restarted(child, fd))

    def _on_storage_restarted(self, child: StorageChild, fd: int) -> None:
        self.loop.remove_reader(fd)
        try:
            child.on_ready()
        except StorageDiedError as error:
            self._stop_for(error)
            return
        # Empty, at the same address: tell it the owners now, and clients (by the epoch) to re-upload.
        self.core.storage_epoch += 1
        self._list_owners()

    def _stop_for(self, error: StorageDiedError) -> None:
        self.failure = error
        self.loop.stop()  # the command line prints it, as one line (see scaler.cli._entry)

    def _list_owners(self) -> None:
        clients = self.core.clients
        self._listed_joins = self.core.clients_joined
        cache = self._owner_prefixes
        if len(cache) > 2 * len(clients) + 1000:  # departed clients: drop their cached prefixes now and then
            self._owner_prefixes = cache = {c: p for c, p in cache.items() if c in clients}
        prefixes = []
        for client_id in clients:
            prefix = cache.get(client_id)
            if prefix is None:
                prefix = cache[client_id] = owner_prefix(client_id)
            prefixes.append(prefix)
        # A dropped client's objects are kept (by the scheduler) for object_retention_seconds: storage must not
        # reclaim them sooner. The margin covers a listing lost or late.
        grace = self.core.settings.object_retention_seconds + 30.0
        self._storage.send(codec.encode_one(m.ObjectOwnersAlive(tuple(prefixes), grace)))

    def _publish_status(self) -> None:
        if not self._subscriptions.anyone:  # a status costs ~10 us per task event: none for a stream nobody reads
            self._status.skip()
            return
        # It never blocks: a slow subscriber's statuses are simply dropped.
        self._monitor.send(self._status.encode(time.monotonic(), time.time()), zmq.NOBLOCK)

    def _flush(self) -> None:
        if self.core.clients_joined != self._listed_joins:
            # A client joined: list it before its echo goes out, so that storage knows it before any of its objects
            # arrive (a put of an unlisted owner only gets a small shared budget). Counting joins, not clients: one
            # that leaves as another joins leaves the count as it was. (Departures wait for the periodic listing.)
            self._list_owners()
        outbox = self.core.flush()
        router = self._router
        for peer, messages in outbox.to_peers.items():
            send_routed(router, peer, codec.encode(messages))
        for message in outbox.to_storage:
            self._storage.send(codec.encode_one(message))
        if self.core.heap_trim_due:  # a client with many tasks left: give its memory back to the OS
            self.core.heap_trim_due = False
            release_free_memory(collect=True)
        if self.core.stop_requested:
            self.loop.stop()


def _replace_storage(settings: SchedulerSettings, address: str) -> SchedulerSettings:
    from dataclasses import replace

    return replace(settings, object_storage_address=address)


def _make_policy(engine_type: str, content: str) -> PolicyEngine:
    from scaler.scheduler.policy.engine import make_policy_engine

    return make_policy_engine(engine_type, content)


def serve(options: SchedulerOptions) -> None:
    server = SchedulerServer(options)
    server.loop.stop_on_signals()
    if options.credentials is not None and hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda _signum, _frame: server.request_key_reload())
    server.run()
    if server.failure is not None:
        raise server.failure


def scheduler_options_from_config(config: SchedulerConfig) -> SchedulerOptions:
    """The one place a ``SchedulerConfig`` (the command line, TOML, or a combo's arguments) becomes what the
    server runs with."""
    advertised = config.advertised_object_storage_address
    settings = SchedulerSettings(
        object_storage_address=str(advertised or config.effective_object_storage_address),
        client_timeout_seconds=config.client_timeout_seconds,
        worker_timeout_seconds=config.worker_timeout_seconds,
        load_balance_seconds=config.load_balance_seconds,
        load_balance_trigger_times=config.load_balance_trigger_times,
        protected=config.protected,
        max_number_of_tasks_waiting=config.max_number_of_tasks_waiting,
        object_retention_seconds=config.object_retention_seconds,
    )
    return SchedulerOptions(
        address=str(config.scheduler_address),
        object_storage_address=str(config.object_storage_address) if config.object_storage_address else None,
        advertised_object_storage_address=str(advertised) if advertised else None,
        monitor_address=str(config.effective_monitor_address),
        settings=settings,
        policy_engine_type=config.policy_engine_type,
        policy_content=config.policy_content,
        event_loop=config.event_loop,
        object_storage_max_bytes_per_owner=config.object_storage_max_bytes_per_owner,
        io_threads=config.io_threads,
        status_report_interval_seconds=config.status_report_interval_seconds,
        credentials=_server_credentials(getattr(config, "credentials", None)),
    )


def run_scheduler(config: SchedulerConfig) -> None:
    """Entry point of ``scaler_scheduler``."""
    serve(scheduler_options_from_config(config))


def _server_credentials(source: str | None) -> ServerCredentials | None:
    """The scheduler's credentials: ``--credentials`` or else ``SCALER_CREDENTIALS`` (a scheduler's file)."""
    from scaler.security.credentials import load_credentials
    from scaler.security.local import environment_server_credentials

    loaded = load_credentials(source) if source else environment_server_credentials()
    if loaded is not None and not isinstance(loaded, ServerCredentials):
        raise SystemExit(
            f"scaler_scheduler: error: {source or ENVIRONMENT_VARIABLE} holds a {loaded.role}'s "
            "credentials, not a scheduler's (create one with scaler_keys init)"
        )
    return loaded
