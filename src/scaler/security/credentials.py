"""Credentials files: who a peer is (its CURVE key pair and role) and whom a scheduler lets in.

Two kinds of TOML file, both written with mode 0600 because they hold a secret key:

- the scheduler's (``scheduler.toml``): its key pair and the authorized public keys, each with a name and a
  role, in ``[authorized.NAME]`` tables. The object storage server the scheduler starts reads the same file.
- a peer's (``NAME.toml``): its key pair, its role and the scheduler's public key.

A credentials *source* is a file path or the TOML text itself (that is how a process hands credentials to its
children through the ``SCALER_CREDENTIALS`` environment variable without writing a file: never on a command
line, where ``ps`` shows it to every local user).
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import tomllib
import zmq

ENVIRONMENT_VARIABLE = "SCALER_CREDENTIALS"
ROLES = ("client", "worker", "manager", "admin")
SCHEDULER_ROLE = "scheduler"  # the scheduler's own key: what it uses towards its object storage
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_KEY = re.compile(r"^[0-9A-Za-z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}$")  # Z85 of 32 bytes


class CredentialsError(ValueError):
    """A credentials file or text that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Identity:
    name: str
    role: str


@dataclass(frozen=True)
class PeerCredentials:
    """What a connecting peer needs: its own key pair and the public key of the server it talks to."""

    name: str
    role: str
    public_key: str
    secret_key: str = field(repr=False)
    server_public_key: str
    # Set instead of keys for a throw-away loopback cluster (see ``ephemeral``): ZeroMQ's PLAIN mechanism, which
    # authenticates without encrypting; only other local users could connect to loopback, and they cannot read it.
    password: str = field(default="", repr=False)

    def to_toml(self) -> str:
        if self.password:
            return _toml({"name": self.name, "role": self.role, "password": self.password})
        return _toml(
            {
                "name": self.name,
                "role": self.role,
                "public_key": self.public_key,
                "secret_key": self.secret_key,
                "scheduler_public_key": self.server_public_key,
            }
        )


@dataclass(frozen=True)
class ServerCredentials:
    """A scheduler's (and its object storage's) key pair and who may connect, by public key."""

    public_key: str
    secret_key: str = field(repr=False)
    authorized: dict[str, Identity] = field(default_factory=dict)  # public key -> who
    path: Path | None = None  # where it was read from: reloaded from there when it changes
    # PLAIN users of a throw-away loopback cluster, name -> password (see PeerCredentials.password); when there are
    # any, the servers use PLAIN instead of CURVE, and the scheduler's own user is named "scheduler".
    passwords: dict[str, str] = field(default_factory=dict, repr=False)
    roles: dict[str, str] = field(default_factory=dict)  # PLAIN user name -> role

    def identity_of(self, user: str) -> Identity | None:
        """Who a peer is, by its ZeroMQ User-Id: a CURVE public key, or a PLAIN user name."""
        if user == self.public_key or (self.passwords and user == "scheduler"):
            return Identity("scheduler", SCHEDULER_ROLE)
        role = self.roles.get(user)
        return Identity(user, role) if role is not None else self.authorized.get(user)

    def as_peer(self) -> PeerCredentials:
        """The scheduler's own key as a connecting peer (to its object storage, which shares this file)."""
        if self.passwords:
            return PeerCredentials("scheduler", SCHEDULER_ROLE, "", "", "", self.passwords["scheduler"])
        return PeerCredentials("scheduler", SCHEDULER_ROLE, self.public_key, self.secret_key, self.public_key)

    def to_toml(self) -> str:
        text = _toml({"role": SCHEDULER_ROLE, "public_key": self.public_key, "secret_key": self.secret_key})
        for key, who in sorted(self.authorized.items(), key=lambda item: item[1].name):
            text += f"\n[authorized.{who.name}]\n" + _toml({"role": who.role, "public_key": key})
        for name, password in sorted(self.passwords.items()):
            role = self.roles.get(name, SCHEDULER_ROLE)
            text += f"\n[password_users.{name}]\n" + _toml({"role": role, "password": password})
        return text


Credentials = PeerCredentials | ServerCredentials


def new_key_pair() -> tuple[str, str]:
    public, secret = zmq.curve_keypair()
    return public.decode("ascii"), secret.decode("ascii")


def new_server_credentials() -> ServerCredentials:
    public, secret = new_key_pair()
    return ServerCredentials(public, secret)


def new_peer_credentials(server: ServerCredentials, name: str, role: str) -> PeerCredentials:
    check_name(name)
    if role not in ROLES:
        raise CredentialsError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    public, secret = new_key_pair()
    return PeerCredentials(name, role, public, secret, server.public_key)


def check_name(name: str) -> None:
    if not _NAME.match(name):
        raise CredentialsError(f"invalid name {name!r}: use 1 to 64 letters, digits, '_', '-' or '.'")


def load_credentials(source: str | os.PathLike[str]) -> Credentials:
    """Read credentials from a file path or from TOML text (text is recognised by its ``=`` signs)."""
    text, origin, path = _read(source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise CredentialsError(f"{origin}: not valid TOML: {error}") from None
    role = data.get("role")
    if role not in (*ROLES, SCHEDULER_ROLE):
        raise CredentialsError(f"{origin}: role must be one of {', '.join((*ROLES, SCHEDULER_ROLE))}, got {role!r}")
    if role != SCHEDULER_ROLE and isinstance(data.get("password"), str):
        return PeerCredentials(str(data.get("name", role)), role, "", "", "", data["password"])
    public = _key(data, "public_key", origin)
    secret = _key(data, "secret_key", origin)
    if role == SCHEDULER_ROLE:
        authorized: dict[str, Identity] = {}
        for name, entry in (data.get("authorized") or {}).items():
            if not isinstance(entry, dict) or entry.get("role") not in ROLES:
                raise CredentialsError(f"{origin}: [authorized.{name}] needs a role, one of {', '.join(ROLES)}")
            authorized[_key(entry, "public_key", f"{origin} [authorized.{name}]")] = Identity(name, entry["role"])
        users = {name: entry for name, entry in (data.get("password_users") or {}).items() if isinstance(entry, dict)}
        passwords = {name: str(entry.get("password", "")) for name, entry in users.items()}
        roles = {name: str(entry.get("role")) for name, entry in users.items() if entry.get("role") != SCHEDULER_ROLE}
        return ServerCredentials(public, secret, authorized, path, passwords, roles)
    name = str(data.get("name", role))
    return PeerCredentials(name, role, public, secret, _key(data, "scheduler_public_key", origin))


def credentials_from_environment() -> Credentials | None:
    source = os.environ.get(ENVIRONMENT_VARIABLE)
    return load_credentials(source) if source else None


def resolve(credentials: Credentials | str | os.PathLike[str] | None) -> Credentials | None:
    """Accept credentials as an object, a file path or TOML text; None stays None."""
    if credentials is None or isinstance(credentials, PeerCredentials | ServerCredentials):
        return credentials
    return load_credentials(credentials)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600, atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _read(source: str | os.PathLike[str]) -> tuple[str, str, Path | None]:
    if isinstance(source, str) and "=" in source and "\n" in source:
        return source, "credentials text", None
    path = Path(source)
    try:
        text = path.read_text()
    except OSError as error:
        raise CredentialsError(f"cannot read credentials file {path}: {error.strerror or error}") from None
    if path.stat().st_mode & 0o077:
        raise CredentialsError(f"credentials file {path} is readable by other users: run chmod 600 {path}")
    return text, str(path), path


def _key(data: dict[str, object], name: str, origin: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not _KEY.match(value):
        raise CredentialsError(f"{origin}: {name} must be a 40-character Z85 CURVE key")
    return value


def _toml(values: dict[str, str]) -> str:
    # Names and Z85 keys contain neither quotes nor backslashes, so a basic string needs no escaping.
    return "".join(f'{key} = "{value}"\n' for key, value in values.items())


def remote_worker_environment() -> dict[str, str]:
    """What a manager that starts workers on other machines adds to their environment: its credentials' text
    under ``SCALER_CREDENTIALS`` (a remote machine has no copy of the file). Never on a command line, which the
    cloud's consoles and ``ps`` show; empty when this process runs without credentials."""
    source = os.environ.get(ENVIRONMENT_VARIABLE)
    if not source:
        return {}
    text, _, _ = _read(source)
    return {ENVIRONMENT_VARIABLE: text}
