"""Whether an address is reachable from other machines: a server there without credentials is open to them."""

from __future__ import annotations

import ipaddress
import logging

from scaler.io.address import Address

logger = logging.getLogger("scaler.security")


def is_loopback(address: Address) -> bool:
    """True for ipc:// (a local file) and loopback hosts; a wildcard or any other host is reachable from outside."""
    if address.scheme == "ipc" or address.host == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.host).is_loopback
    except ValueError:  # a host name other than localhost: assume it resolves to a reachable interface
        return False


def warn_if_exposed(address: Address, what: str) -> None:
    if not is_loopback(address):
        logger.warning(
            "SECURITY: %s on %s has no credentials: anyone who reaches this address can run code on every worker "
            "and read every object; create credentials with scaler_keys (see the Security section of the README)",
            what,
            address,
        )
