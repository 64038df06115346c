"""ZeroMQ socket construction with the options every Scaler socket wants, CURVE security included.

A server socket given ``ServerCredentials`` becomes a CURVE server whose peers a ZAP handler (one per context,
see ``scaler.security.keyring``) checks against the authorized keys; a connecting socket uses the credentials it
is given or, when given none, the defaults that ``scaler.security.local`` finds (a cluster this process started,
``SCALER_CREDENTIALS``, a launcher's published file). With no credentials anywhere, sockets are plain.
"""

from __future__ import annotations

import logging
from typing import Any

import zmq

from scaler.io.address import Address
from scaler.io.logs import FatalError
from scaler.security.credentials import PeerCredentials, ServerCredentials
from scaler.security.keyring import DOMAIN, MONITOR_DOMAIN, KeyRing, keyring_of
from scaler.security.local import FROM_ENVIRONMENT, _FromEnvironment, connecting_credentials

logger = logging.getLogger("scaler.io")

RECONNECT_MAX_MS = 100

HIGH_WATER_MARK = 0  # unbounded: back-pressure is the scheduler's job (queue sizes), not the transport's


class BindError(FatalError, OSError):
    """An address could not be bound (in use, not local, no permission): the message names it, in one line."""


def bind_socket(socket: zmq.Socket[Any], address: str) -> None:
    """``socket.bind(address)``, closing the socket and raising ``BindError`` naming the address on failure."""
    try:
        socket.bind(address)
    except zmq.ZMQError as error:
        socket.close(linger=0)
        raise BindError(f"cannot bind {address}: {zmq.strerror(error.errno or 0)}") from None


def _configure(socket: zmq.Socket[Any], identity: bytes | None) -> None:
    socket.setsockopt(zmq.LINGER, 0)
    # Peers often start together (a combo, the `scaler` launcher): retry a refused connection after 10 ms
    # rather than zmq's default 100 ms, backing off to 100 ms (zmq's own fixed interval), not more: with a longer
    # back-off a client that started a little before its scheduler connected up to twice the scheduler's start-up
    # time late (a combo's first result took 2.3 s instead of 0.8 s on a busy 2-core machine).
    socket.setsockopt(zmq.RECONNECT_IVL, 10)
    socket.setsockopt(zmq.RECONNECT_IVL_MAX, RECONNECT_MAX_MS)
    socket.setsockopt(zmq.SNDHWM, HIGH_WATER_MARK)
    socket.setsockopt(zmq.RCVHWM, HIGH_WATER_MARK)
    if identity is not None:
        socket.setsockopt(zmq.IDENTITY, identity)


def secured(credentials: PeerCredentials | _FromEnvironment | None, address: str) -> bool:
    """Whether a socket connecting to ``address`` with these ``credentials`` uses CURVE."""
    return connecting_credentials(credentials, address) is not None


def secure_client(
    socket: zmq.Socket[Any], address: str, credentials: PeerCredentials | _FromEnvironment | None = FROM_ENVIRONMENT
) -> None:
    """Make ``socket`` (DEALER or SUB, before it connects to ``address``) a CURVE client, or a PLAIN one for a
    throw-away loopback cluster's password, when there are credentials."""
    peer = connecting_credentials(credentials, address)
    if peer is not None and peer.password:
        socket.plain_username = peer.name.encode()
        socket.plain_password = peer.password.encode()
    elif peer is not None:
        socket.curve_publickey = peer.public_key.encode("ascii")
        socket.curve_secretkey = peer.secret_key.encode("ascii")
        socket.curve_serverkey = peer.server_public_key.encode("ascii")


def secure_server(
    socket: zmq.Socket[Any], context: zmq.Context[Any], credentials: ServerCredentials, domain: str = DOMAIN
) -> KeyRing:
    """Make ``socket`` (before bind) a CURVE (or, with passwords, PLAIN) server whose peers the context's ZAP
    handler checks."""
    keyring = keyring_of(context, credentials)
    if credentials.passwords:
        socket.plain_server = True
    else:
        socket.curve_server = True
        socket.curve_publickey = credentials.public_key.encode("ascii")
        socket.curve_secretkey = credentials.secret_key.encode("ascii")
    socket.zap_domain = domain.encode("ascii")
    return keyring


def bind_router(
    context: zmq.Context[Any],
    address: str,
    max_message_bytes: int = -1,
    inbound_high_water_mark: int = 0,
    credentials: ServerCredentials | None = None,
) -> zmq.Socket[Any]:
    """A ROUTER bound at ``address``. ``inbound_high_water_mark`` > 0: messages queued per sender before zmq stops
    reading that sender's connection, which pushes back on it (TCP flow control) instead of buffering without end.
    ``credentials``: peers must authenticate (CURVE, or PLAIN for a throw-away loopback cluster)."""
    Address.parse(address)
    socket: zmq.Socket[Any] = context.socket(zmq.ROUTER)
    _configure(socket, None)
    if inbound_high_water_mark > 0:
        socket.setsockopt(zmq.RCVHWM, inbound_high_water_mark)
    if credentials is not None:
        secure_server(socket, context, credentials)
    # A peer that sends an unroutable reply target must not make send() raise: drop it instead.
    socket.setsockopt(zmq.ROUTER_MANDATORY, 0)
    if max_message_bytes > 0:
        socket.setsockopt(zmq.MAXMSGSIZE, max_message_bytes)
    bind_socket(socket, address)
    return socket


def bind_publisher(
    context: zmq.Context[Any], address: str, credentials: ServerCredentials | None = None
) -> zmq.Socket[Any]:
    """The monitor stream's socket; secured, only admins may subscribe. An XPUB: it is a PUB that also tells its
    owner who subscribes (``MonitorSubscriptions``), so that nothing is built for a stream nobody reads."""
    socket: zmq.Socket[Any] = context.socket(zmq.XPUB)
    socket.setsockopt(zmq.LINGER, 0)
    if credentials is not None:
        secure_server(socket, context, credentials, MONITOR_DOMAIN)
    bind_socket(socket, address)
    return socket


def connect_dealer(
    context: zmq.Context[Any],
    address: str,
    identity: bytes,
    credentials: PeerCredentials | _FromEnvironment | None = FROM_ENVIRONMENT,
) -> zmq.Socket[Any]:
    socket = new_dealer(context, address, identity, credentials)
    socket.connect(address)
    return socket


def new_dealer(
    context: zmq.Context[Any],
    address: str,
    identity: bytes,
    credentials: PeerCredentials | _FromEnvironment | None = FROM_ENVIRONMENT,
) -> zmq.Socket[Any]:
    """A configured DEALER for ``address``, not yet connected (so that a monitor can see its first connect)."""
    Address.parse(address)
    socket: zmq.Socket[Any] = context.socket(zmq.DEALER)
    _configure(socket, identity)
    secure_client(socket, address, credentials)
    return socket


# Plain ints: pyzmq's enum flags cost an enum construction per ``|``, on every message of the hot path.
_NOBLOCK = int(zmq.NOBLOCK)
_RCVMORE = int(zmq.RCVMORE)
_SNDMORE = int(zmq.SNDMORE)
_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)


def has_input(socket: zmq.Socket[Any]) -> bool:
    """Whether a non-blocking ``recv`` would return a message now.

    Draining loops ask this before each further read rather than reading until ``zmq.Again``: pyzmq builds an
    exception object for every Again (about 3 us more than this check, and more again with the ``except``), and a
    drain ends with one on every wake-up of the loop.
    """
    return bool(int(socket.getsockopt(_EVENTS)) & _POLLIN)


def receive_routed(router: zmq.Socket[Any], frame: bool) -> tuple[bytes, Any, int]:
    """One message from a ROUTER without blocking: (sender's identity, payload, count of frames beyond those two).

    The scheduler's hot path: two plain ``recv`` calls cost less than ``recv_multipart``. The payload is a
    ``zmq.Frame`` when ``frame`` (a secured server reads the sender's key from it), else bytes; the identity is
    always bytes. A message whose sender sent it in several frames comes with extra frames, read and dropped here
    (the count says so). Raises ``zmq.Again`` when nothing waits.
    """
    peer: bytes = router.recv(_NOBLOCK)
    if not router.getsockopt(_RCVMORE):  # a ROUTER always prefixes the identity: an empty message from the peer
        return peer, zmq.Frame(b"") if frame else b"", 0
    payload = router.recv(_NOBLOCK, copy=not frame)
    extra = 0
    while router.getsockopt(_RCVMORE):
        router.recv(_NOBLOCK, copy=False)
        extra += 1
    return peer, payload, extra


def send_routed(router: zmq.Socket[Any], peer: bytes, payload: bytes) -> None:
    """``payload`` to ``peer`` through a ROUTER (which drops it if ``peer`` is gone: never blocks)."""
    router.send(peer, _SNDMORE)
    router.send(payload)


_MAX_TOPICS = 1024  # a subscriber subscribing to ever more topics must not grow this set without bound


class MonitorSubscriptions:
    """The topics subscribed on a ``bind_publisher`` socket: read its subscription messages when it is readable.

    Without XPUB_VERBOSE, zmq reports a topic's first subscription and its last unsubscription (a subscriber that
    disconnects unsubscribes), so a set of topics says whether anyone listens."""

    def __init__(self, socket: zmq.Socket[Any]) -> None:
        self._socket = socket
        self._topics: set[bytes] = set()

    @property
    def anyone(self) -> bool:
        return bool(self._topics)

    def on_readable(self) -> None:
        while int(self._socket.getsockopt(zmq.EVENTS)) & zmq.POLLIN:
            message: bytes = self._socket.recv()
            if message[:1] == b"\x01" and len(self._topics) < _MAX_TOPICS:
                self._topics.add(message[1:])
            elif message[:1] == b"\x00":
                self._topics.discard(message[1:])
