"""A TCP proxy that forwards one address to another and keeps every byte it forwards, both ways."""

from __future__ import annotations

import socket
import threading


class CapturingProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._captured = bytearray()
        self._connections: list[socket.socket] = []
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def captured(self) -> bytes:
        with self._lock:
            return bytes(self._captured)

    def close(self) -> None:
        self._stopped = True
        self._listener.close()
        for connection in self._connections:
            connection.close()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                inbound, _ = self._listener.accept()
            except OSError:  # closed
                return
            try:
                outbound = socket.create_connection(self._target)
            except OSError:  # the target is not up yet: the peer reconnects, as it would to the target itself
                inbound.close()
                continue
            self._connections += [inbound, outbound]
            threading.Thread(target=self._pump, args=(inbound, outbound), daemon=True).start()
            threading.Thread(target=self._pump, args=(outbound, inbound), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                with self._lock:
                    self._captured += chunk
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for side in (source, sink):
                try:
                    side.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
