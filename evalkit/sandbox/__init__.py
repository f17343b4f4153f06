"""The isolation layer for untrusted, model-generated code (see isolation.py for what it does)."""

from evalkit.sandbox.channel import Channel, ChannelClosed, ChannelError, ChannelTimeout
from evalkit.sandbox.isolation import OPT_OUT_ENV, OPT_OUT_VALUE, Isolation, SandboxUnavailable, detect
from evalkit.sandbox.limits import Limits
from evalkit.sandbox.pool import Sandbox
from evalkit.sandbox.run import RunResult

__all__ = [
    "OPT_OUT_ENV",
    "OPT_OUT_VALUE",
    "Channel",
    "ChannelClosed",
    "ChannelError",
    "ChannelTimeout",
    "Isolation",
    "Limits",
    "RunResult",
    "Sandbox",
    "SandboxUnavailable",
    "detect",
]
