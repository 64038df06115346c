"""``scaler_keys``: create and manage the credentials of a secured cluster.

``scaler_keys init DIR`` writes ``DIR/scheduler.toml`` (the scheduler's key pair, nobody authorized yet);
``scaler_keys add DIR --role ROLE --name NAME`` writes ``DIR/NAME.toml`` for one peer and authorizes its key in
``DIR/scheduler.toml``; ``scaler_keys revoke DIR --name NAME`` removes that authorization. A running scheduler
picks the change up within a few seconds (or at once on SIGHUP). Every file is written with mode 0600.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from scaler.security.credentials import (
    ROLES,
    CredentialsError,
    Identity,
    ServerCredentials,
    check_name,
    load_credentials,
    new_peer_credentials,
    new_server_credentials,
    write_private,
)

PROG = "scaler_keys"
SCHEDULER_FILE = "scheduler.toml"


def main(argv: Sequence[str] | None = None) -> None:
    arguments = _parser().parse_args(argv)
    try:
        print(arguments.action(arguments))
    except CredentialsError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        raise SystemExit(1) from None


def init(arguments: argparse.Namespace) -> str:
    path = Path(arguments.directory) / SCHEDULER_FILE
    if path.exists() and not arguments.force:
        raise CredentialsError(f"{path} exists (use --force to replace it, which invalidates every peer file)")
    write_private(path, new_server_credentials().to_toml())
    return f"wrote {path}: start the scheduler with --credentials {path}"


def add(arguments: argparse.Namespace) -> str:
    directory = Path(arguments.directory)
    server = _scheduler(directory)
    peer = new_peer_credentials(server, arguments.name, arguments.role)
    if any(who.name == peer.name for who in server.authorized.values()):
        raise CredentialsError(f"{peer.name} is already authorized (revoke it first to issue a new key)")
    path = directory / f"{peer.name}.toml"
    if peer.name == Path(SCHEDULER_FILE).stem:
        raise CredentialsError("the name 'scheduler' is reserved for the scheduler's own file")
    write_private(path, peer.to_toml())
    authorized = {**server.authorized, peer.public_key: Identity(peer.name, peer.role)}
    write_private(directory / SCHEDULER_FILE, replace(server, authorized=authorized).to_toml())
    return f"wrote {path} ({peer.role}) and authorized it in {directory / SCHEDULER_FILE}"


def revoke(arguments: argparse.Namespace) -> str:
    directory = Path(arguments.directory)
    check_name(arguments.name)
    server = _scheduler(directory)
    authorized = {key: who for key, who in server.authorized.items() if who.name != arguments.name}
    if len(authorized) == len(server.authorized):
        raise CredentialsError(f"{arguments.name} is not authorized in {directory / SCHEDULER_FILE}")
    write_private(directory / SCHEDULER_FILE, replace(server, authorized=authorized).to_toml())
    (directory / f"{arguments.name}.toml").unlink(missing_ok=True)
    return f"revoked {arguments.name}: a running scheduler refuses it within a few seconds (at once on SIGHUP)"


def _scheduler(directory: Path) -> ServerCredentials:
    server = load_credentials(directory / SCHEDULER_FILE)
    if not isinstance(server, ServerCredentials):
        raise CredentialsError(f"{directory / SCHEDULER_FILE} is not a scheduler's credentials file")
    return server


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Create and manage the credentials of a secured cluster.")
    actions = parser.add_subparsers(required=True, metavar="ACTION")
    command = actions.add_parser("init", help="create DIR/scheduler.toml: the scheduler's key pair")
    command.add_argument("directory", metavar="DIR")
    command.add_argument("--force", action="store_true", help="replace an existing scheduler.toml")
    command.set_defaults(action=init)
    command = actions.add_parser("add", help="create DIR/NAME.toml for one peer and authorize it")
    command.add_argument("directory", metavar="DIR")
    command.add_argument("--role", required=True, choices=ROLES, help="what the peer may do")
    command.add_argument("--name", required=True, help="the peer's name (its file is DIR/NAME.toml)")
    command.set_defaults(action=add)
    command = actions.add_parser("revoke", help="remove a peer's authorization (and its file)")
    command.add_argument("directory", metavar="DIR")
    command.add_argument("--name", required=True)
    command.set_defaults(action=revoke)
    return parser


if __name__ == "__main__":
    main()
