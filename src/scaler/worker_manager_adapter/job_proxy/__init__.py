"""The shared core of the "concurrency-limited" worker managers (aws_hpc, oci_hpc, symphony).

Such a manager connects to the scheduler as one worker and runs each task as one job on an external
system. Everything but submitting, polling and cancelling a job is here; an adapter supplies a
``JobBackend`` (see backend.py) and nothing else.
"""
