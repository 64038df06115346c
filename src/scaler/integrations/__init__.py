"""Scaler under the libraries its users reach it through.

- ``scaler.integrations.joblib``: the ``"scaler"`` joblib backend (``joblib.Parallel``, scikit-learn ``n_jobs``).
- parfun's ``scaler_local``/``scaler_remote`` backends and pargraph's ``GraphEngine(client)`` need no adapter:
  they use the public client API, plus ``scaler.worker.agent.processor.processor.Processor`` (a thin alias).
- ``Client.executor()``: a ``concurrent.futures.Executor`` for libraries that accept one.

Each integration imports its library, so none is imported by ``import scaler``.
"""
