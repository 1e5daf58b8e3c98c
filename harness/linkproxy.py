"""A TCP proxy that plays a bad VPN between a terminal and the broker: cut, blackhole, delay.

- ``cut()``: every connection is closed and new ones are refused (the VPN is down).
- ``blackhole()``: connections stay open but nothing passes (a half-open link: no FIN, no RST).
- ``drop_replies()``: what the terminal sends passes, nothing comes back (kept in ``replies_dropped``).
- ``delay(seconds)``: each direction is delayed by ``seconds`` (half the round trip).
- ``restore()``: back to a clean link.
Used by the tests and by ``shegong bench sync --rtt-ms``. Loopback only.
"""

from __future__ import annotations

import contextlib
import heapq
import socket
import threading
import time
from typing import Literal

from harness.broker import free_port

__all__ = ["LinkProxy"]

Mode = Literal["pass", "cut", "blackhole", "no_replies"]


class _Pipe:
    """One direction of one connection, with an optional delay line."""

    def __init__(self, proxy: LinkProxy, src: socket.socket, dst: socket.socket, down: bool) -> None:
        self.proxy, self.src, self.dst, self.down = proxy, src, dst, down
        self._line: list[tuple[float, int, bytes]] = []
        self._n = 0
        self._cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._write, daemon=True).start()

    def _read(self) -> None:
        try:
            while data := self.src.recv(65536):
                if self.proxy.mode == "blackhole":
                    continue
                if self.down and self.proxy.mode == "no_replies":
                    self.proxy.replies_dropped += data[: max(0, (1 << 20) - len(self.proxy.replies_dropped))]
                    continue
                with self._cv:
                    self._n += 1
                    heapq.heappush(self._line, (time.monotonic() + self.proxy.one_way_delay, self._n, data))
                    self._cv.notify()
        except OSError:
            pass
        self.proxy._drop(self.src, self.dst)
        with self._cv:
            self._cv.notify()

    def _write(self) -> None:
        try:
            while True:
                with self._cv:
                    while not self._line:
                        if self.src.fileno() == -1:
                            return
                        self._cv.wait(0.5)
                    due, _, data = self._line[0]
                    wait = due - time.monotonic()
                    if wait > 0:
                        self._cv.wait(wait)
                        continue
                    heapq.heappop(self._line)
                if self.proxy.mode != "blackhole" and not (self.down and self.proxy.mode == "no_replies"):
                    self.dst.sendall(data)
        except OSError:
            self.proxy._drop(self.src, self.dst)


class LinkProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1", port: int | None = None) -> None:
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self.mode: Mode = "pass"
        self.one_way_delay = 0.0
        self.replies_dropped = bytearray()  # what drop_replies() kept from the terminal (its first MiB)
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        self._closed = False
        self.last_connected = 0.0  # time.perf_counter() of the last connection passed through
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.mode == "cut":
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._conns.update((client, upstream))
            self.last_connected = time.perf_counter()
            _Pipe(self, client, upstream, down=False)
            _Pipe(self, upstream, client, down=True)

    def _drop(self, *socks: socket.socket) -> None:
        with self._lock:
            for s in socks:
                self._conns.discard(s)
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def cut(self) -> None:
        self.mode = "cut"
        with self._lock:
            conns = list(self._conns)
        self._drop(*conns)

    def blackhole(self) -> None:
        self.mode = "blackhole"

    def drop_replies(self) -> None:
        """What the terminal sends still arrives; nothing comes back to it (a link that lost one direction).
        What was dropped is in ``replies_dropped``."""
        self.replies_dropped.clear()
        self.mode = "no_replies"

    def delay(self, one_way_seconds: float) -> None:
        self.one_way_delay = one_way_seconds

    def restore(self) -> None:
        """A clean link again. Connections that lived through a blackhole lost bytes: they are dropped."""
        if self.mode in ("blackhole", "no_replies"):
            with self._lock:
                conns = list(self._conns)
            self._drop(*conns)
        self.mode = "pass"
        self.one_way_delay = 0.0

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.cut()
