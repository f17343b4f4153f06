"""Whether the Hugging Face hub can be reached, asked once, so that an offline machine gets one
clear line instead of `huggingface_hub`'s retries (five, 8 s apart, per file).

When HF_HUB_OFFLINE is set or one TCP connection to the endpoint fails, hub calls run in
offline mode (`offline_calls`): what is in the local HF cache is still used, nothing is
retried, and the error says what was tried.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from functools import lru_cache
from urllib.parse import urlparse

CONNECT_TIMEOUT_S = 3.0
_TRUE = {"1", "true", "yes", "on"}


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def offline_reason() -> str | None:
    """None when the hub looks reachable; else why not, in words (for error messages)."""
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in _TRUE:
            return f"{var} is set"
    return _probe(endpoint())


@lru_cache(maxsize=4)
def _probe(url: str) -> str | None:
    parsed = urlparse(url)
    host = parsed.hostname or ""
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            return None
    except OSError as e:
        why = "timed out" if isinstance(e, TimeoutError) else (e.strerror or type(e).__name__)
        return f"{url} is unreachable ({why})"


@contextlib.contextmanager
def offline_calls(offline: bool) -> Iterator[None]:
    """Within the block, huggingface_hub and datasets read only the local cache (no retries)."""
    if not offline:
        yield
        return
    import huggingface_hub.constants as hub_constants

    saved: list[tuple[object, str, object]] = [
        (hub_constants, "HF_HUB_OFFLINE", hub_constants.HF_HUB_OFFLINE)
    ]
    try:
        import datasets.config as ds_config

        saved.append((ds_config, "HF_HUB_OFFLINE", ds_config.HF_HUB_OFFLINE))
    except ImportError:
        pass
    try:
        for mod, name, _ in saved:
            setattr(mod, name, True)
        yield
    finally:
        for mod, name, value in saved:
            setattr(mod, name, value)


def is_cached(repo_id: str, filename: str, repo_type: str = "model") -> bool:
    """Whether `filename` of the hub repository is in the local HF cache."""
    from huggingface_hub import try_to_load_from_cache

    hit = try_to_load_from_cache(repo_id, filename, repo_type=repo_type)
    return isinstance(hit, str)
