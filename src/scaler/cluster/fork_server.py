"""The fork server: a small process that forks a combo's processes for this one, once this one may no longer fork.

A combo forks its children only while this process has one thread (see ``children``). Most processes soon have more
(a Client's I/O thread, numpy's pool, a notebook kernel's), and a fresh interpreter per child costs a combo about
half a second on two cores. So the first combo also leaves behind a fork server: a process with one thread and the
cluster's modules imported, that forks each child on request. It is a fork of this process when this process may
fork (its children are then what a direct fork gives), else a fresh interpreter (``python -m
scaler.cluster.fork_server``; it is then started once per set of interpreter settings: the working directory and
the ``PYTHON*`` variables, which decide a fresh interpreter's ``sys.path``; one made for other settings stays while
the combos it started run). Later combos of this process, threads or not, start in about the time of a fork.

Its children are made to look like fresh interpreters as a combo's forked children are: this process's
environment and working directory at the time of the request, its signal handlers reset, no inherited descriptor.
They die with the server, and the server with this process (``PR_SET_PDEATHSIG``), so a crash leaves nothing
behind. It reaps a child only when asked about it (``ServedChild.poll``): until then a dead child's pid stays
taken (a zombie), and a signal sent by pid cannot reach another process.

Requests and replies are pickles over a Unix socket pair (length-prefixed frames, as between an agent and its
processors), one request at a time. A start request also carries this process's standard output and error as they
are at that moment (``SCM_RIGHTS``): a child writes where a child started by this process would (a terminal, a log
file it was redirected to since, pytest's capture of the running test), not where they were when the server began.
"""

from __future__ import annotations

import importlib
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
from typing import Any

from scaler.io.lifetime import (
    PARENT_ENV,
    ForkedChild,
    child_environment,
    exit_with_parent_from_env,
    fork_child,
    wait_by_polling,
)
from scaler.io.pipes import PipeClosed, read_frame, write_frame

_ROLES = ("scaler.object_storage", "scaler.scheduler", "scaler.worker.agent")
_AGENT = "scaler.worker.agent"
_SERVER_DIED = -signal.SIGKILL  # what the server's children got when it died (their PR_SET_PDEATHSIG)


def server_key() -> tuple[Any, ...]:
    """What a fresh interpreter's ``sys.path`` depends on: a spawned server is reused only while these stay."""
    return sys.executable, os.getcwd(), tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("PYTHON")))


class ForkServer:
    """This process's handle on its fork server (see the module)."""

    _shared: ForkServer | None = None
    _shared_lock = threading.Lock()

    def __init__(self, channel: socket.socket, process: Any, fresh: bool, key: tuple[Any, ...] | None) -> None:
        self._channel = channel
        self._owner = os.getpid()  # a fork of this process (multiprocessing) must start a server of its own
        self._process = process
        self.fresh = fresh  # a fresh interpreter (not a fork of this process): its agents may fork their processors
        self._key = key  # None: a fork of this process, good whatever the settings
        self._lock = threading.Lock()
        self._dead = False

    @classmethod
    def shared(cls, may_fork: bool) -> ForkServer:
        """The server to use now: the one this process has, if alive and fit, else a new one (a fork of this
        process when ``may_fork``, else a fresh interpreter). Raises OSError if none can start."""
        with cls._shared_lock:
            server = cls._shared
            if server is not None and server.usable():
                return server
            # The old one is not closed: the combos it started may still run (their children hold it). It exits
            # when the last of them lets go of it (its channel is closed with the object, and it reads end-of-file).
            cls._shared = server = cls._fork() if may_fork else cls._spawn()
            return server

    @classmethod
    def _fork(cls) -> ForkServer:
        from scaler.cluster.children import become_fresh  # imported here: children imports this module

        for role in _ROLES:
            importlib.import_module(f"{role}.__main__")  # before the fork: its children start ready
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        parent = os.getpid()

        def life() -> None:
            become_fresh(parent, keep=(theirs.fileno(),))
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C for the user's program is not for this one
            serve(theirs.fileno(), fresh=False)

        try:
            process = fork_child("scaler fork server (forked)", life)
        except BaseException:
            mine.close()
            raise
        finally:
            theirs.close()
        return cls(mine, process, fresh=False, key=None)

    @classmethod
    def _spawn(cls) -> ForkServer:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "scaler.cluster.fork_server", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=child_environment(),
            )
        except BaseException:
            mine.close()
            raise
        finally:
            theirs.close()
        return cls(mine, process, fresh=True, key=server_key())

    def usable(self) -> bool:
        if self._dead or os.getpid() != self._owner or self._process.poll() is not None:
            return False
        return self._key is None or self._key == server_key()

    def start(self, module: str, argv: list[str], environment: dict[str, str]) -> ServedChild:
        """Have the server fork ``module``'s ``run(argv)`` with this process's environment (without the variables
        that tie a spawned child to this process) and ``environment`` over it, in this process's directory."""
        from scaler.cluster.children import environment_for_child  # imported here: children imports this module

        env = environment_for_child(environment)
        del env[PARENT_ENV]  # the server's children die with the server (which dies with this process)
        pid = self._call(("start", module, argv, env, os.getcwd()), pass_output=True)
        if not isinstance(pid, int):
            raise OSError(f"the fork server could not start {module}: {pid}")
        return ServedChild(self, pid, module)

    def exit_code(self, pid: int) -> int | None:
        """``pid``'s exit code if it has ended (the server reaps it then), None while it runs."""
        try:
            code = self._call(("poll", pid))
        except OSError:
            return _SERVER_DIED
        return code if isinstance(code, int) or code is None else _SERVER_DIED

    def _call(self, request: tuple[Any, ...], pass_output: bool = False) -> Any:
        with self._lock:
            if self._dead:
                raise OSError("the fork server has exited")
            try:
                write_frame(self._channel.fileno(), pickle.dumps(request))
                if pass_output:
                    socket.send_fds(self._channel, [b"F"], [1, 2])
                return pickle.loads(read_frame(self._channel.fileno()))
            except (OSError, PipeClosed) as error:
                self._dead = True
                raise OSError(f"the fork server has exited: {error}") from None


class ServedChild(ForkedChild):
    """A child of the fork server, handled like a ``subprocess.Popen``. Until the server reaps it (when ``poll`` asks
    after it and it has ended) its pid stays taken, so a signal sent by pid reaches no other process."""

    def __init__(self, server: ForkServer, pid: int, name: str) -> None:
        super().__init__(pid, name)
        self._server = server

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._server.exit_code(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        return wait_by_polling(self, self._name, timeout)


# --- the server's side -----------------------------------------------------------------------------------------


def serve(channel: int, fresh: bool) -> None:
    """Answer requests until this process's end of the channel closes; ``fresh``: this is a fresh interpreter."""
    runs = {role: importlib.import_module(f"{role}.__main__").run for role in _ROLES}
    connection = socket.socket(fileno=channel)
    children: set[int] = set()
    while True:
        try:
            request = pickle.loads(read_frame(channel))
            kind = request[0]
            output: list[int] = []
            if kind == "start":
                _, output, _, _ = socket.recv_fds(connection, 1, 2)
        except (PipeClosed, OSError, EOFError):
            return  # the user's process let go of this server (or is gone): the children die with it
        if kind == "start":
            _, module, argv, env, cwd = request
            run = runs.get(module)
            if run is None or len(output) != 2:
                reply: Any = f"cannot start {module!r} (with {len(output)} output descriptors)"
            else:
                reply = _fork_role(run, module == _AGENT and fresh, argv, env, cwd, output, module)
                children.add(reply)
            for fd in output:
                os.close(fd)
        elif kind == "poll":
            reply = _reap(request[1], children)
        else:
            reply = f"unknown request {kind!r}"
        write_frame(channel, pickle.dumps(reply))


def _fork_role(
    run: Any, fork_processor: bool, argv: list[str], env: dict[str, str], cwd: str, output: list[int], name: str
) -> int:
    """Fork a child that runs ``run(argv)`` as a fresh interpreter would, in ``cwd`` with ``env``, writing to the
    ``output`` descriptors (standard output and error); its pid."""
    from scaler.cluster.children import become_fresh  # imported here: children imports this module

    server = os.getpid()

    def life() -> int:
        os.dup2(output[0], 1)
        os.dup2(output[1], 2)
        become_fresh(server)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        # A fresh server's agents are as good as fresh interpreters: they may fork their first processor.
        return int(run(argv, fresh_interpreter=True) if fork_processor else run(argv))

    return fork_child(f"{name} (forked)", life).pid


def _reap(pid: int, children: set[int]) -> int | str | None:
    if pid not in children:
        return f"{pid} is not a child of this server"
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        children.discard(pid)
        return 0
    if not done:
        return None
    children.discard(pid)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    exit_with_parent_from_env()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C for the user's program is not for this one
    serve(int(sys.argv[1]), fresh=True)
