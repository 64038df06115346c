"""The authorized keys of a secured server, as its ZAP handler and its message dispatch see them.

ZeroMQ asks the ZAP handler (pyzmq's ``ThreadAuthenticator``, a thread of the server's context) about every
connecting peer's public key during the CURVE handshake; ``KeyRing.callback`` answers from the scheduler's
credentials file, reloaded when the file changes (checked at most every ``RELOAD_CHECK_SECONDS``) or at once on
``reload()`` (SIGHUP). A key that is revoked while its peer is connected keeps its TCP connection, so the
server also asks ``identity()`` for every message and acts on ``revoked_since()``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import zmq

from scaler.security.credentials import SCHEDULER_ROLE, CredentialsError, Identity, ServerCredentials, load_credentials

if TYPE_CHECKING:  # imported by secured servers only: it pulls in asyncio, which no client or worker needs
    from zmq.auth.thread import ThreadAuthenticator

logger = logging.getLogger("scaler.security")

DOMAIN = "scaler"  # the scheduler's and the object storage's ROUTER sockets
MONITOR_DOMAIN = "scaler-monitor"  # the monitor stream: admins only
MONITOR_ROLES = frozenset({"admin", SCHEDULER_ROLE})
RELOAD_CHECK_SECONDS = 2.0


def key_label(public_key: str) -> str:
    """How a public key appears in logs: its first characters are enough to find it in a credentials file."""
    return public_key[:8] + "..."


class KeyRing:
    def __init__(self, credentials: ServerCredentials) -> None:
        self._credentials = credentials
        self._lock = threading.Lock()
        self._stamp = self._file_stamp()
        self._next_check = time.monotonic() + RELOAD_CHECK_SECONDS
        self._refused: set[tuple[str, str]] = set()  # (key, domain) already logged: one line per peer
        self._revoked: set[str] = set()  # keys removed by the latest reloads, not yet collected

    @property
    def credentials(self) -> ServerCredentials:
        return self._credentials

    def identity(self, public_key: str) -> Identity | None:
        self.maybe_reload()
        return self._credentials.identity_of(public_key)

    def callback(self, domain: str, key: bytes) -> bool:
        """The ZAP decision for one connecting peer (called in the authenticator's thread)."""
        public_key = key.decode("ascii")
        who = self.identity(public_key)
        if who is None:
            self.refuse(public_key, domain, "unknown or revoked key")
            return False
        if domain == MONITOR_DOMAIN and who.role not in MONITOR_ROLES:
            self.refuse(public_key, domain, f"{who.name} is a {who.role}; only an admin may read the monitor stream")
            return False
        return True

    def refuse(self, public_key: str, domain: str, why: str) -> None:
        """Log a refusal once per key and domain (a reconnecting peer would otherwise flood the log)."""
        with self._lock:
            if (public_key, domain) in self._refused:
                return
            self._refused.add((public_key, domain))
        logger.warning("refused peer with key %s on %s: %s", key_label(public_key), domain, why)

    def maybe_reload(self) -> None:
        now = time.monotonic()
        if now < self._next_check or self._credentials.path is None:
            return
        self._next_check = now + RELOAD_CHECK_SECONDS
        if self._file_stamp() != self._stamp:
            self.reload()

    def reload(self) -> None:
        path = self._credentials.path
        if path is None:
            return
        with self._lock:
            self._stamp = self._file_stamp()
            try:
                fresh = load_credentials(path)
            except CredentialsError as error:
                logger.error("keeping the authorized keys as they were: %s", error)
                return
            if not isinstance(fresh, ServerCredentials) or fresh.public_key != self._credentials.public_key:
                logger.error("keeping the authorized keys as they were: %s now holds another scheduler's keys", path)
                return
            removed = set(self._credentials.authorized) - set(fresh.authorized)
            changed = {key for key, who in fresh.authorized.items() if self._credentials.authorized.get(key) != who}
            self._revoked |= removed | (changed & set(self._credentials.authorized))
            self._refused = {(key, domain) for key, domain in self._refused if key not in fresh.authorized}
            self._credentials = fresh
        logger.info(
            "authorized keys reloaded from %s: %d authorized, %d revoked", path, len(fresh.authorized), len(removed)
        )

    def take_revoked(self) -> set[str]:
        """Keys revoked (or given another role) since the last call: their connected peers must be dropped."""
        with self._lock:
            revoked, self._revoked = self._revoked, set()
        return revoked

    def _file_stamp(self) -> tuple[float, int] | None:
        path = self._credentials.path
        try:
            status = path.stat() if path is not None else None
        except OSError:
            return None
        return None if status is None else (status.st_mtime, status.st_size)


def start_authenticator(context: zmq.Context[Any], keyring: KeyRing) -> ThreadAuthenticator:
    """Run the ZAP handler for every secured socket of ``context`` (stop it before ``context.term()``)."""
    from zmq.auth.thread import ThreadAuthenticator  # ~25 ms of start-up (asyncio) that only a secured server pays

    zap_log = logging.getLogger("scaler.security.zap")
    zap_log.setLevel(logging.INFO)  # pyzmq's debug lines would show PLAIN passwords
    authenticator = ThreadAuthenticator(context, log=zap_log)
    authenticator.start()
    credentials = keyring.credentials
    if credentials.passwords:  # a throw-away loopback cluster: fixed users, nothing to reload
        admins = {name: password for name, password in credentials.passwords.items()
                  if name == "scheduler" or credentials.roles.get(name) in MONITOR_ROLES}  # fmt: skip
        authenticator.configure_plain(DOMAIN, dict(credentials.passwords))
        authenticator.configure_plain(MONITOR_DOMAIN, admins)
        return authenticator
    for domain in (DOMAIN, MONITOR_DOMAIN):
        authenticator.configure_curve_callback(domain, credentials_provider=keyring)
    return authenticator


_keyrings: dict[int, tuple[KeyRing, ThreadAuthenticator]] = {}  # id(context) -> its key ring and ZAP handler


def keyring_of(context: zmq.Context[Any], credentials: ServerCredentials) -> KeyRing:
    """The context's key ring, with its ZAP handler started on first use."""
    entry = _keyrings.get(id(context))
    if entry is None:
        keyring = KeyRing(credentials)
        entry = _keyrings[id(context)] = (keyring, start_authenticator(context, keyring))
    return entry[0]


def stop_authentication(context: zmq.Context[Any]) -> None:
    """Stop the context's ZAP handler, if any: required before ``context.term()``, which waits for its socket."""
    entry = _keyrings.pop(id(context), None)
    if entry is not None:
        entry[1].stop()
