"""A TCP proxy on loopback that can partition the link it carries, for fault tests.

``partition()`` stops moving bytes in both directions without closing anything, as a cut cable or a dropped
route does: the kernel buffers fill, TCP's flow control stalls both ends, and neither side gets an error.
``heal()`` resumes forwarding; whatever was in flight is delivered late, as after a real partition.
``reset()`` closes every carried connection (a peer that reconnects gets a fresh one).
"""

from __future__ import annotations

import selectors
import socket
import threading

from scaler.io.address import free_tcp_port

_CHUNK = 256 * 1024


class TcpProxy:
    def __init__(self, target_port: int) -> None:
        self.port = free_tcp_port()
        self._target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._peers: dict[socket.socket, socket.socket] = {}
        self._forwarding = threading.Event()
        self._forwarding.set()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.bytes_forwarded = 0
        self._thread = threading.Thread(target=self._run, name="tcp-proxy", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def partition(self) -> None:
        self._forwarding.clear()

    def heal(self) -> None:
        self._forwarding.set()

    def reset(self) -> None:
        with self._lock:
            for sock in list(self._peers):
                self._close(sock)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.reset()
        self._selector.close()
        self._listener.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._forwarding.wait(0.05):
                continue  # partitioned: nothing moves, not even new connections (the kernel holds them)
            events = self._selector.select(timeout=0.05)
            with self._lock:
                for key, _ in events:
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if sock is self._listener:
                        self._accept()
                    elif sock in self._peers:
                        self._forward(sock)

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        try:
            upstream = socket.create_connection(self._target, timeout=5)
        except OSError:
            client.close()
            return
        for sock in (client, upstream):
            sock.setblocking(True)  # writes block (bounded by the peer's buffer); reads only when selected
        self._peers[client], self._peers[upstream] = upstream, client
        self._selector.register(client, selectors.EVENT_READ)
        self._selector.register(upstream, selectors.EVENT_READ)

    def _forward(self, source: socket.socket) -> None:
        try:
            data = source.recv(_CHUNK)
            if data:
                self._peers[source].sendall(data)
                self.bytes_forwarded += len(data)
                return
        except OSError:
            pass
        self._close(source)

    def _close(self, sock: socket.socket) -> None:
        other = self._peers.pop(sock, None)
        for end in (sock, other):
            if end is None:
                continue
            self._peers.pop(end, None)
            try:
                self._selector.unregister(end)
            except (KeyError, ValueError):
                pass
            end.close()
