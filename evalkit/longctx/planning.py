"""How many long sequences fit at once: batch size planned from the KV-cache memory a runner
reports (`Runner.kv_bytes_per_token`) and the memory the device has free."""

from __future__ import annotations


def plan_batch_size(
    kv_bytes_per_token: int | None, tokens_per_sequence: int, free_bytes: int, cap: int
) -> int:
    """Sequences of `tokens_per_sequence` (prompt + new tokens) whose KV cache fits in
    `free_bytes`; at least 1 (one sequence always runs, or fails with the device's own error),
    at most `cap`. Unknown KV size: `cap`."""
    if not kv_bytes_per_token or tokens_per_sequence <= 0:
        return cap
    return max(1, min(cap, free_bytes // (kv_bytes_per_token * tokens_per_sequence)))
