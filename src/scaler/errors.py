"""The exceptions users see, in one tree.

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
    │   ├── ProtocolMismatchError        the scheduler speaks another protocol version
    │   ├── AuthenticationError          the scheduler refused this client's credentials (or their absence)
    │   └── MissingObjectError           an ObjectReference this client no longer knows
    └── ObjectStorageError               the object storage server lost or refused an object

A task's own exception is re-raised as itself (with its remote traceback), never wrapped.
"""

from __future__ import annotations


class ScalerError(Exception):
    pass


class TaskError(ScalerError):
    pass


class ProcessorDiedError(TaskError):
    pass


class TaskTimeoutError(TaskError, TimeoutError):
    pass


class WorkerDiedError(TaskError):
    pass


class NoCapableWorkerError(TaskError):
    pass


class TaskRejectedError(TaskError):
    pass


class DeserializeError(TaskError):
    pass


class JobFailedError(TaskError):
    """A task run as a job on an external system (AWS Batch, OCI, Symphony) ended without a result."""


class ClientError(ScalerError):
    pass


class ClientClosedError(ClientError):
    pass


ClientQuitException = ClientClosedError


class ShutdownRefusedError(ClientError, ValueError):
    pass


class SchedulerUnavailableError(ClientError, ConnectionError):
    pass


class ClientDroppedError(SchedulerUnavailableError):
    pass


class ProtocolMismatchError(ClientError):
    pass


class AuthenticationError(ClientError, PermissionError):
    pass


class MissingObjectError(ClientError, KeyError):
    pass


class ObjectStorageError(ScalerError):
    pass
