"""Loaded at start-up by every Python process of a ``bench/round_trip_trace.py`` run (its PYTHONPATH names this
folder): the processes started fresh (the processors) note their messages too."""

import os

if os.environ.get("SCALER_BENCH_TRACE_DIR"):
    from bench.round_trip_trace import install

    install(os.environ["SCALER_BENCH_TRACE_DIR"])
