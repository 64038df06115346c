"""ZeroMQ socket construction with the options every Scaler socket wants, CURVE security included.

Security lives here and nowhere else in the transport: a server socket given ``ServerCredentials`` becomes a
CURVE server whose peers a ZAP handler (one per context, see ``scaler.security.keyring``) checks against the
authorized keys; a connecting socket uses the credentials it is given or, when given none, those named by
``SCALER_CREDENTIALS`` (a file path or the TOML text: how a process hands its credentials to its children).
With no credentials anywhere, sockets are plain, as before.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any, Final

import zmq

from scaler.io.address import Address
from scaler.io.logs import FatalError, RateLimitedLog
from scaler.protocol import codec
from scaler.security.credentials import ENVIRONMENT_VARIABLE, PeerCredentials, ServerCredentials, load_credentials
from scaler.security.runtime import published_credentials

if TYPE_CHECKING:  # imported when a server is secured: it pulls in zmq.auth and asyncio, which no client needs
    from scaler.security.keyring import KeyRing

logger = logging.getLogger("scaler.io")

RECONNECT_MAX_MS = 100
HIGH_WATER_MARK = 0  # unbounded: back-pressure is the scheduler's job (queue sizes), not the transport's
_drop_log = RateLimitedLog(logger)


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


class _FromEnvironment:
    """The default of ``credentials`` parameters: whatever ``SCALER_CREDENTIALS`` names (maybe nothing)."""


FROM_ENVIRONMENT: Final = _FromEnvironment()
_environment_cache: dict[str, PeerCredentials] = {}
_keyrings: dict[int, tuple[KeyRing, Any]] = {}  # id(context) -> its key ring and ZAP authenticator
_local_clusters: dict[str, PeerCredentials] = {}  # address -> the credentials of a cluster this process started


def register_local_cluster(addresses: list[str], credentials: PeerCredentials | None) -> None:
    """Connect to ``addresses`` (a combo's scheduler, object storage and monitor) with ``credentials`` by
    default; None forgets them. In-memory keys: other local users cannot connect to such a cluster."""
    for address in addresses:
        if credentials is None:
            _local_clusters.pop(address, None)
        else:
            _local_clusters[address] = credentials


def environment_credentials() -> PeerCredentials | None:
    """The connecting credentials named by ``SCALER_CREDENTIALS`` (a scheduler's file acts as its own key)."""
    source = os.environ.get(ENVIRONMENT_VARIABLE)
    if not source:
        return None
    cached = _environment_cache.get(source)
    if cached is None:
        loaded = load_credentials(source)
        cached = loaded.as_peer() if isinstance(loaded, ServerCredentials) else loaded
        _environment_cache[source] = cached
    return cached


def environment_server_credentials() -> ServerCredentials | None:
    source = os.environ.get(ENVIRONMENT_VARIABLE)
    loaded = load_credentials(source) if source else None
    return loaded if isinstance(loaded, ServerCredentials) else None


def _peer(credentials: PeerCredentials | _FromEnvironment | None, address: str) -> PeerCredentials | None:
    if isinstance(credentials, _FromEnvironment):
        return _local_clusters.get(address) or environment_credentials() or published_credentials(address)
    return credentials


def secured(credentials: PeerCredentials | _FromEnvironment | None, address: str) -> bool:
    """Whether a socket connecting to ``address`` with these ``credentials`` uses CURVE."""
    return _peer(credentials, address) is not None


def secure_client(
    socket: zmq.Socket[Any], address: str, credentials: PeerCredentials | _FromEnvironment | None = FROM_ENVIRONMENT
) -> None:
    """Make ``socket`` (DEALER or SUB, before it connects to ``address``) a CURVE client, or a PLAIN one for a
    throw-away loopback cluster's password, when there are credentials."""
    peer = _peer(credentials, address)
    if peer is not None and peer.password:
        socket.plain_username = peer.name.encode()
        socket.plain_password = peer.password.encode()
    elif peer is not None:
        socket.curve_publickey = peer.public_key.encode("ascii")
        socket.curve_secretkey = peer.secret_key.encode("ascii")
        socket.curve_serverkey = peer.server_public_key.encode("ascii")


def secure_server(
    socket: zmq.Socket[Any], context: zmq.Context[Any], credentials: ServerCredentials, domain: str = ""
) -> KeyRing:
    """Make ``socket`` (before bind) a CURVE (or, with passwords, PLAIN) server whose peers the context's ZAP
    handler checks (``domain``: the ZAP domain; by default the keyring's ``DOMAIN``)."""
    from scaler.security.keyring import DOMAIN

    keyring = keyring_of(context, credentials)
    if credentials.passwords:
        socket.plain_server = True
    else:
        socket.curve_server = True
        socket.curve_publickey = credentials.public_key.encode("ascii")
        socket.curve_secretkey = credentials.secret_key.encode("ascii")
    socket.zap_domain = (domain or DOMAIN).encode("ascii")
    return keyring


def keyring_of(context: zmq.Context[Any], credentials: ServerCredentials) -> KeyRing:
    """The context's key ring, with its ZAP handler started on first use."""
    entry = _keyrings.get(id(context))
    if entry is None:
        from scaler.security.keyring import KeyRing, start_authenticator

        keyring = KeyRing(credentials)
        entry = _keyrings[id(context)] = (keyring, start_authenticator(context, keyring))
    return entry[0]


def stop_authentication(context: zmq.Context[Any]) -> None:
    """Stop the context's ZAP handler, if any: required before ``context.term()``, which waits for its socket."""
    entry = _keyrings.pop(id(context), None)
    if entry is not None:
        entry[1].stop()


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
    """The monitor stream's PUB socket; secured, only admins may subscribe."""
    socket: zmq.Socket[Any] = context.socket(zmq.PUB)
    socket.setsockopt(zmq.LINGER, 0)
    if credentials is not None:
        from scaler.security.keyring import MONITOR_DOMAIN

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


def receive_messages(socket: zmq.Socket[Any], peer: str, limit: int = 2000) -> list[Any]:
    """Every message waiting on a DEALER (up to ``limit`` frames), without blocking. A frame that does not
    decode is logged with ``peer`` and dropped: the caller keeps serving."""
    messages: list[Any] = []
    for _ in range(limit):
        try:
            frame = socket.recv(zmq.NOBLOCK)
        except zmq.Again:
            break
        try:
            messages.extend(codec.decode(frame))
        except codec.DecodeError as error:
            _drop_log.warning(f"dropping message from {peer}", str(error))
    return messages
