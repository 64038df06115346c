"""The scheduler process: sockets and timers around ``SchedulerCore``.

Sockets: a ROUTER bound at the scheduler address (clients, workers and managers all connect to it), a
DEALER to the object storage server (to free the objects of departed clients), and a PUB at the monitor
address. When no object storage address is configured, an object storage server is started as a child
process at the scheduler's port + 1 and stopped with the scheduler.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import zmq

from scaler.config.sections.scheduler import DEFAULT_POLICY_CONTENT, SchedulerConfig
from scaler.ids import short
from scaler.io.address import Address
from scaler.io.lifetime import child_environment
from scaler.io.loop import make_event_loop
from scaler.io.sockets import bind_router, connect_dealer
from scaler.protocol import codec
from scaler.scheduler.core import SchedulerCore, SchedulerSettings
from scaler.scheduler.status import STATUS_INTERVAL_SECONDS, StatusReporter

if TYPE_CHECKING:
    from scaler.scheduler.policy.engine import PolicyEngine

logger = logging.getLogger("scaler.scheduler")

TICK_SECONDS = 0.1
SEND_ONLY_SUFFIX = b"|tx"  # see scaler.client.agent
_DRAIN_LIMIT = 2000
MAX_CONTROL_MESSAGE_BYTES = 1 << 30


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
    io_threads: int = 1
    status_report_interval_seconds: float = STATUS_INTERVAL_SECONDS


class SchedulerServer:
    def __init__(self, options: SchedulerOptions) -> None:
        address = Address.parse(options.address)
        self.address = str(address)
        self.object_storage_address = options.object_storage_address or str(address.with_port_offset(1))
        self.monitor_address = options.monitor_address or str(address.with_port_offset(2))
        self._storage_process: subprocess.Popen[bytes] | None = None
        if options.object_storage_address is None:
            self._storage_process = start_object_storage_process(self.object_storage_address)

        advertised = options.advertised_object_storage_address or self.object_storage_address
        settings = options.settings or SchedulerSettings(object_storage_address=advertised)
        if settings.object_storage_address != advertised:
            settings = _replace_storage(settings, advertised)
        self.core = SchedulerCore(settings, _make_policy(options.policy_engine_type, options.policy_content))

        self._context: zmq.Context[Any] = zmq.Context(io_threads=options.io_threads)
        self._router = bind_router(self._context, self.address, MAX_CONTROL_MESSAGE_BYTES)
        identity = b"Scheduler|" + os.urandom(4).hex().encode()
        self._storage = connect_dealer(self._context, self.object_storage_address, identity)
        self._monitor = self._context.socket(zmq.PUB)
        self._monitor.setsockopt(zmq.LINGER, 0)
        self._monitor.bind(self.monitor_address)

        self.loop = make_event_loop(options.event_loop)
        self.loop.add_reader(self._router, self._on_router)
        self.loop.add_reader(self._storage, self._on_storage)
        self.loop.call_every(TICK_SECONDS, self._on_tick)
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
        for socket in (self._router, self._storage, self._monitor):
            socket.close(linger=0)
        self._context.term()
        if self._storage_process is not None:
            stop_process(self._storage_process)
            self._storage_process = None
        logger.info("scheduler on %s stopped", self.address)

    def _on_router(self) -> None:
        router, core, now = self._router, self.core, time.monotonic()
        for _ in range(_DRAIN_LIMIT):
            try:
                frames = router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            peer = frames[0]
            if peer.endswith(SEND_ONLY_SUFFIX):  # a client's send-only socket speaks for the client itself
                peer = peer[: -len(SEND_ONLY_SUFFIX)]
            if len(frames) != 2:
                logger.warning("dropping %d-frame message from %s", len(frames), short(peer))
                continue
            try:
                messages = codec.decode(frames[1])
            except codec.DecodeError as error:
                logger.warning("dropping message from %s: %s", short(peer), error)
                continue
            for message in messages:
                core.handle(peer, message, now)

    def _on_storage(self) -> None:
        while True:  # acknowledgements of deletions: nothing to do with them but drain
            try:
                self._storage.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return

    def _on_tick(self) -> None:
        self.core.tick(time.monotonic())

    def _publish_status(self) -> None:
        # PUB never blocks: with no subscriber, or a slow one, the status is simply dropped.
        self._monitor.send(self._status.encode(time.monotonic(), time.time()), zmq.NOBLOCK)

    def _flush(self) -> None:
        outbox = self.core.flush()
        send = self._router.send_multipart
        for peer, messages in outbox.to_peers.items():
            send([peer, codec.encode(messages)])
        for message in outbox.to_storage:
            self._storage.send(codec.encode_one(message))
        if self.core.stop_requested:
            self.loop.stop()


def start_object_storage_process(address: str) -> subprocess.Popen[bytes]:
    logger.info("starting object storage server at %s", address)
    level = logging.getLevelName(logging.getLogger().getEffectiveLevel())  # the scheduler's own logging level
    command = [sys.executable, "-m", "scaler.object_storage", address, level]
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, env=child_environment())


def stop_process(process: subprocess.Popen[bytes], grace_seconds: float = 5.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _replace_storage(settings: SchedulerSettings, address: str) -> SchedulerSettings:
    from dataclasses import replace

    return replace(settings, object_storage_address=address)


def _make_policy(engine_type: str, content: str) -> PolicyEngine:
    from scaler.scheduler.policy.engine import make_policy_engine

    return make_policy_engine(engine_type, content)


def serve(options: SchedulerOptions) -> None:
    server = SchedulerServer(options)
    server.loop.stop_on_signals()
    server.run()


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
        io_threads=config.io_threads,
        status_report_interval_seconds=config.status_report_interval_seconds,
    )


def run_scheduler(config: SchedulerConfig) -> None:
    """Entry point of ``scaler_scheduler``."""
    serve(scheduler_options_from_config(config))
