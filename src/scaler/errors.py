"""The exceptions users see, in one tree::

    ScalerError
    ├── TaskError                        a task did not produce a result
    │   ├── ProcessorDiedError           the process running the task died (os._exit, signal, OOM)
    │   ├── TaskTimeoutError             the task ran past task_timeout_seconds and was killed
    │   ├── WorkerDiedError              the worker running it kept dying; retries exhausted
    │   ├── NoCapableWorkerError         no worker has, and no manager can start one with, its capabilities
    │   ├── TaskRejectedError            the scheduler refused it (queue full, invalid request)
    │   ├── DeserializeError             its result or exception could not be deserialized on the client
    │   └── JobFailedError               its job on AWS Batch / OCI / Symphony ended without a result
    ├── ClientError                      the client cannot do what was asked
    │   ├── ClientClosedError            the client was disconnected (also: ClientQuitException)
    │   ├── SchedulerUnavailableError    the scheduler did not answer / went away
    │   │   └── ClientDroppedError       the scheduler had dropped this client (silent too long)
    │   ├── ShutdownRefusedError         shutdown() of a protected scheduler
    │   ├── SubmitTimeoutError           a submit waited longer than submit_timeout_seconds for room
    │   ├── ProtocolMismatchError        the scheduler speaks another protocol version
    │   ├── AuthenticationError          the scheduler refused this client's credentials (or their absence)
    │   └── MissingObjectError           an ObjectReference this client no longer knows
    └── ObjectStorageError               the object storage server is unreachable, or refused an object (quota)
        └── ObjectLostError              an object is gone: never uploaded in time, deleted, its owner gone,
                                         refused, or object storage did not answer a read in time

A task's own exception is re-raised as itself (with its remote traceback), never wrapped.
"""

from __future__ import annotations


class ScalerError(Exception):
    """Base of every error Scaler raises itself (a task's own exception is re-raised unchanged instead)."""


class TaskError(ScalerError):
    """A task ended without a result for a reason other than its own exception (see the subclasses)."""


class ProcessorDiedError(TaskError):
    """The process running the task died: ``os._exit``, a signal such as a segfault, or out of memory."""


class TaskTimeoutError(TaskError, TimeoutError):
    """The task ran longer than the worker's ``task_timeout_seconds`` and its process was killed."""


class WorkerDiedError(TaskError):
    """The workers running this task died repeatedly (three times); it is not retried again."""


class NoCapableWorkerError(TaskError):
    """No worker has, and no worker manager can start one with, the capabilities the task asks for."""


class TaskRejectedError(TaskError):
    """The scheduler refused the task (its queue is full, or the request was invalid); the message says which."""


class DeserializeError(TaskError):
    """The task's result or exception arrived but could not be deserialized on the client."""


class JobFailedError(TaskError):
    """A task run as a job on an external system (AWS Batch, OCI, Symphony) ended without a result."""


class ClientError(ScalerError):
    """The client cannot do what was asked (see the subclasses)."""


class ClientClosedError(ClientError):
    """The client was disconnected (``disconnect()``, the ``with`` block ended, or the scheduler went away)."""


ClientQuitException = ClientClosedError


class ShutdownRefusedError(ClientError, ValueError):
    """``Client.shutdown()`` of a protected scheduler (the default of ``SchedulerClusterCombo``)."""


class SchedulerUnavailableError(ClientError, ConnectionError):
    """The scheduler did not answer within the client's ``timeout_seconds``, or went away."""


class ClientDroppedError(SchedulerUnavailableError):
    """The scheduler had dropped this client for being silent past its ``client_timeout_seconds``
    (a laptop that slept); the client's unfinished tasks were cancelled."""


class SubmitTimeoutError(ClientError, TimeoutError):
    """The scheduler stayed full (back-pressure) for the client's whole ``submit_timeout_seconds``."""


class ProtocolMismatchError(ClientError):
    """The scheduler speaks another protocol version than this client (mixed Scaler installations)."""


class AuthenticationError(ClientError, PermissionError):
    """The scheduler or object storage refused this peer's credentials (none, an unknown or revoked key, or a
    role that may not do what was asked); see the README's Security section and ``scaler_keys``."""


class MissingObjectError(ClientError, KeyError):
    """An ``ObjectReference`` this client no longer knows (its object was cleared or released)."""


class ObjectStorageError(ScalerError):
    """The object storage server lost or refused an object (a large argument, result or function)."""


class ObjectLostError(ObjectStorageError):
    """An object a task or a result needs is not in object storage (the message names the object and why)."""
