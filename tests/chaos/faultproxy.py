"""A fault-injecting TCP proxy for partition tests: forwards a loopback port to a target, and can be paused.

Paused is a partition as TCP sees one: nothing is delivered in either direction, but no connection is reset,
so bytes sent meanwhile arrive late once it heals (the proxy stops reading, the kernel buffers fill, senders
block). ``cut()`` is the other kind of fault: every connection is reset at once, as when a middlebox drops
its state. Only 127.0.0.1 is used on both sides.
"""

from __future__ import annotations

import selectors
import socket
import threading
from types import TracebackType

_CHUNK = 1 << 16


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._peers: dict[socket.socket, socket.socket] = {}
        self._lock = threading.Lock()
        self._wake_read, self._wake_write = socket.socketpair()
        self._selector.register(self._wake_read, selectors.EVENT_READ, "wake")
        self._paused = False
        self._running = True
        self.bytes_forwarded = 0
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def pause(self) -> None:
        """Black-hole both directions until ``heal()``: nothing is read, nothing is delivered, nothing is reset."""
        with self._lock:
            self._paused = True
        self._wake()

    def heal(self) -> None:
        with self._lock:
            self._paused = False
        self._wake()

    def cut(self) -> None:
        """Reset every open connection (new ones are still accepted)."""
        with self._lock:
            connections = list(self._peers)
            self._peers.clear()
        for connection in connections:
            self._close(connection, reset=True)
        self._wake()

    def close(self) -> None:
        self._running = False
        self._wake()
        self._thread.join(10)
        for connection in list(self._peers):
            self._close(connection)
        self._listener.close()
        self._wake_read.close()
        self._wake_write.close()
        self._selector.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _wake(self) -> None:
        try:
            self._wake_write.send(b"x")
        except OSError:
            pass

    def _run(self) -> None:
        while self._running:
            self._update_interest()
            for key, _ in self._selector.select(timeout=0.5):
                if key.data == "wake":
                    try:
                        self._wake_read.recv(4096)
                    except OSError:
                        pass
                elif key.fileobj is self._listener:
                    self._accept()
                else:
                    self._pump(key.fileobj)  # type: ignore[arg-type]

    def _update_interest(self) -> None:
        # While paused, connections are unregistered, so nothing is read and TCP flow control holds the senders.
        with self._lock:
            paused, connections = self._paused, list(self._peers)
        for connection in connections:
            registered = self._is_registered(connection)
            if paused and registered:
                self._selector.unregister(connection)
            elif not paused and not registered:
                self._selector.register(connection, selectors.EVENT_READ, None)

    def _is_registered(self, connection: socket.socket) -> bool:
        try:
            self._selector.get_key(connection)
            return True
        except (KeyError, ValueError):
            return False

    def _accept(self) -> None:
        inbound, _ = self._listener.accept()
        try:
            outbound = socket.create_connection(self._target, timeout=5)
        except OSError:
            inbound.close()
            return
        for connection in (inbound, outbound):
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._peers[inbound] = outbound
            self._peers[outbound] = inbound

    def _pump(self, connection: socket.socket) -> None:
        with self._lock:
            other = self._peers.get(connection)
        if other is None:
            return
        try:
            data = connection.recv(_CHUNK)
        except OSError:
            data = b""
        if not data:
            self._drop_pair(connection, other)
            return
        try:
            other.sendall(data)
            self.bytes_forwarded += len(data)
        except OSError:
            self._drop_pair(connection, other)

    def _drop_pair(self, first: socket.socket, second: socket.socket) -> None:
        with self._lock:
            self._peers.pop(first, None)
            self._peers.pop(second, None)
        self._close(first)
        self._close(second)

    def _close(self, connection: socket.socket, reset: bool = False) -> None:
        if self._is_registered(connection):
            self._selector.unregister(connection)
        if reset:  # SO_LINGER 0: close sends RST instead of FIN
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        connection.close()
