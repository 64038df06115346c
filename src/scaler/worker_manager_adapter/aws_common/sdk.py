"""Optional SDKs, imported only when an adapter starts, with a one-line message naming the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class MissingExtraError(RuntimeError):
    """An optional SDK that a worker manager needs is not installed."""


def require(module: str, adapter: str, extra: str) -> ModuleType:
    """Import ``module`` for ``adapter``, or raise ``MissingExtraError`` saying which extra provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingExtraError(
            f"the {adapter} worker manager needs the {module.split('.')[0]} package, which is not installed "
            f"({error}): pip install 'scaler[{extra}]'"
        ) from None


def boto3_session(
    adapter: str,
    region: str,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    extra: str = "aws",
) -> Any:
    """A boto3 session for ``region``. Credentials come from the arguments when given, else from the usual chain
    (environment, shared files, instance roles); endpoints from the usual settings (``AWS_ENDPOINT_URL``).
    ``extra`` is the one a missing boto3 is reported with (the adapter's own)."""
    boto3 = require("boto3", adapter, extra)
    return boto3.session.Session(
        aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key, region_name=region
    )
