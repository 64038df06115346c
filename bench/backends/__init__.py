"""One module per system. Each is imported only inside that system's own virtual environment."""

from __future__ import annotations

import importlib

from bench.core import Backend

#: system name -> "module:class"
BACKENDS: dict[str, str] = {
    "ours": "bench.backends.scaler_api:OursBackend",
    "opengris": "bench.backends.scaler_api:OpengrisBackend",
    "dask": "bench.backends.dask_backend:DaskBackend",
    "ray": "bench.backends.ray_backend:RayBackend",
    "procpool": "bench.backends.procpool:ProcessPoolBackend",
}


def load_backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise KeyError(f"unknown system {name!r}; known: {', '.join(BACKENDS)}")
    module_name, class_name = BACKENDS[name].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    backend: Backend = cls()
    return backend
