"""Host <-> device copies that do not stall the host on a busy GPU.

A plain ``torch.tensor(values, device="cuda")`` or ``.to("cuda")`` from pageable memory waits
for the stream to drain before it returns, and ``.tolist()`` of a device tensor waits for the
tensor. The engine's pipelined decode (``fast_engine``) launches the next step while the GPU
still runs the last one, so its small copies go through pinned memory instead: an upload is
queued on the stream behind the work already there, a download lands in pinned memory and
is read once its event has fired. PyTorch's caching host allocator keeps a pinned buffer
alive until the copy that reads or writes it is done, so a fresh buffer per copy is safe.
On a CPU both are plain tensors.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

Values = Sequence[int] | Sequence[float] | Sequence[Sequence[int]] | torch.Tensor


def upload(
    values: Values, dtype: torch.dtype, device: torch.device, out: torch.Tensor | None = None
) -> torch.Tensor:
    """`values` as a tensor on `device` (written into `out` when given), queued behind the
    stream's work: no host wait."""
    host = values.to(dtype) if isinstance(values, torch.Tensor) else torch.tensor(values, dtype=dtype)
    if device.type == "cuda":
        host = host.pin_memory()
    if out is not None:
        return out.copy_(host, non_blocking=True)
    return host.to(device, non_blocking=True)


class Download:
    """A device tensor's copy to the host, started now and read with ``tolist``."""

    def __init__(self, tensor: torch.Tensor):
        if tensor.device.type == "cuda":
            self._host = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
            self._host.copy_(tensor, non_blocking=True)
            self._event: torch.cuda.Event | None = torch.cuda.Event()
            self._event.record()
        else:
            self._host, self._event = tensor, None

    def tolist(self) -> list[int]:
        """The values (waits for the copy, not for later work on the stream)."""
        if self._event is not None:
            self._event.synchronize()
        out: list[int] = self._host.tolist()
        return out
