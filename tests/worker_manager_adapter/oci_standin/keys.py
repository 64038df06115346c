"""Credentials of the stand-in: API keys it trusts, request signatures it checks, session tokens it issues.

The real SDK signs every request (HTTP Signatures, rsa-sha256). The stand-in checks those signatures for
real, so that "wrong credentials" is tested the way a tenancy answers it: 401 NotAuthenticated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

TENANCY_ID = "ocid1.tenancy.oc1..aaaaaaaastandintenancy"
USER_ID = "ocid1.user.oc1..aaaaaaaastandinuser"


@dataclass(frozen=True)
class ApiKey:
    private_pem: str
    public_key: RSAPublicKey
    fingerprint: str  # 16 hex pairs, as the OCI console shows it

    @staticmethod
    def generate() -> ApiKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return ApiKey(_private_pem(key), key.public_key(), _fingerprint(key.public_key()))

    def write_config(self, folder: Path, region: str, profile: str = "DEFAULT") -> Path:
        """An OCI CLI config file (and its key file) for this key, as ``oci setup config`` writes them."""
        key_file = folder / f"oci_api_key_{self.fingerprint[:5].replace(':', '')}.pem"
        key_file.write_text(self.private_pem)
        key_file.chmod(0o600)
        config = folder / "config"
        config.write_text(
            f"[{profile}]\nuser={USER_ID}\nfingerprint={self.fingerprint}\ntenancy={TENANCY_ID}\n"
            f"region={region}\nkey_file={key_file}\n"
        )
        config.chmod(0o600)
        return config


class NotAuthenticated(Exception):
    pass


class Keyring:
    """API keys by ``tenancy/user/fingerprint`` and session tokens (``ST$...``) by token."""

    def __init__(self) -> None:
        self._api_keys: dict[str, RSAPublicKey] = {}
        self._sessions: dict[str, RSAPublicKey] = {}
        self._secret = secrets.token_bytes(32)
        # One session key for every instance (each still gets its own token): generating a 2048-bit key per
        # instance would cost the test process a tenth of a second per instance.
        self._session_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def trust(self, key: ApiKey) -> None:
        self._api_keys[f"{TENANCY_ID}/{USER_ID}/{key.fingerprint}"] = key.public_key

    def issue_session(self, compartment_id: str, resource_id: str) -> tuple[str, str]:
        """A Resource Principal session: (RPST token, private key PEM) for one container instance."""
        key = self._session_key
        now = int(time.time())
        claims = {"sub": resource_id, "jti": secrets.token_hex(8), "res_tenant": TENANCY_ID,
                  "res_compartment": compartment_id, "res_type": "computecontainerinstance", "iat": now,
                  "exp": now + 6 * 3600}  # fmt: skip
        token = self._jwt(claims)
        self._sessions[token] = key.public_key()
        return token, _private_pem(key)

    def verify(self, method: str, target: str, headers: dict[str, str]) -> str:
        """The key id that signed this request; raises NotAuthenticated for anything not signed by a known key."""
        fields = _parse_authorization(headers.get("authorization", ""))
        key_id = fields.get("keyId", "")
        public_key = self._sessions.get(key_id[3:]) if key_id.startswith("ST$") else self._api_keys.get(key_id)
        if public_key is None or fields.get("algorithm") != "rsa-sha256":
            raise NotAuthenticated(key_id)
        lines = []
        for name in fields.get("headers", "date").split():
            value = f"{method.lower()} {target}" if name == "(request-target)" else headers.get(name)
            if value is None:
                raise NotAuthenticated(f"signed header {name} missing")
            lines.append(f"{name}: {value}")
        try:
            signature = base64.b64decode(fields.get("signature", ""))
            public_key.verify(signature, "\n".join(lines).encode(), padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError):
            raise NotAuthenticated("bad signature") from None
        return key_id

    def _jwt(self, claims: dict[str, object]) -> str:
        def encode(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        header = encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = encode(json.dumps(claims).encode())
        signature = hmac.new(self._secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
        return f"{header}.{body}.{encode(signature)}"


def _parse_authorization(value: str) -> dict[str, str]:
    if not value.startswith("Signature "):
        return {}
    fields = {}
    for part in value[len("Signature ") :].split(","):
        name, _, quoted = part.partition("=")
        fields[name.strip()] = quoted.strip().strip('"')
    return fields


def _private_pem(key: RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()


def _fingerprint(public_key: RSAPublicKey) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return ":".join(f"{byte:02x}" for byte in hashlib.md5(der).digest())
