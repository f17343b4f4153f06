"""The evaluator's end of a sandboxed program's fd 3: one JSON object per line, both ways.

Everything that arrives is untrusted (the program shares its process with whatever runs on
the other side), so a reply is only ever data: bounded in size, parsed with a deadline,
and any reply that is not one well-formed JSON object raises `ChannelError`.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any

MAX_FRAME = 64 << 20  # bytes of one reply; a bigger one is refused, never buffered


class ChannelError(Exception):
    """A reply that cannot be what the trusted side sends: malformed, oversized, not an object."""


class ChannelClosed(Exception):
    """The program closed its end (it exited or was killed) before replying."""


class ChannelTimeout(Exception):
    """No complete reply before the deadline."""


class Channel:
    def __init__(self, sock: socket.socket, loads: Callable[[bytes], Any] = json.loads):
        """`loads` parses one reply line (a grader passes one that rebuilds its typed values)."""
        self._sock = sock
        self._buf = bytearray()
        self.loads = loads

    def send(self, obj: Any, deadline: float) -> None:
        data = (json.dumps(obj) + "\n").encode()
        view = memoryview(data)
        while view:
            self._sock.settimeout(_left(deadline))
            try:
                n = self._sock.send(view)
            except TimeoutError as e:
                raise ChannelTimeout("the program stopped reading") from e
            except OSError as e:  # EPIPE, ECONNRESET: the program is gone
                raise ChannelClosed(str(e)) from e
            view = view[n:]

    def recv(self, deadline: float) -> dict[str, object]:
        """The next reply, parsed. Raises ChannelClosed, ChannelTimeout or ChannelError."""
        while b"\n" not in self._buf:
            if len(self._buf) > MAX_FRAME:
                raise ChannelError(f"a reply longer than {MAX_FRAME} bytes")
            self._sock.settimeout(_left(deadline))
            try:
                chunk = self._sock.recv(1 << 20)
            except TimeoutError as e:
                raise ChannelTimeout("no reply in time") from e
            except OSError as e:
                raise ChannelClosed(str(e)) from e
            if not chunk:
                if self._buf:
                    cut = _preview(bytes(self._buf))
                    raise ChannelClosed(f"the channel closed in the middle of a reply: {cut}")
                raise ChannelClosed("the program closed its channel")
            self._buf += chunk
        end = self._buf.index(b"\n")
        line = bytes(self._buf[:end])
        del self._buf[: end + 1]
        if len(line) > MAX_FRAME:
            raise ChannelError(f"a reply longer than {MAX_FRAME} bytes")
        try:
            obj = self.loads(line)
        except (ValueError, TypeError, RecursionError) as e:  # JSON, UTF-8 and type errors
            raise ChannelError(f"unreadable reply ({type(e).__name__}): {_preview(line)}") from e
        if not isinstance(obj, dict):
            raise ChannelError(f"not a JSON object: {_preview(line)}")
        return obj

    def close(self) -> None:
        self._sock.close()


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise ChannelTimeout("deadline passed")
    return left


def _preview(line: bytes, n: int = 80) -> str:
    text = line[:n].decode("utf-8", errors="replace")
    return repr(text) + ("..." if len(line) > n else "")
