"""Programmatic dependent launch (PDL, Hopper and later): a kernel launched with it may start
while the kernel before it on the stream still runs, and waits (``gdc_wait``) only where it
first reads what that kernel wrote; the kernel before lets it start early by calling
``gdc_launch_dependents``. In a decode step at one row the GEMVs stream weights that nothing
before them writes: launched so, they issue their first weight loads while the small kernel
before them (a norm, silu, attention's merge) runs, instead of after it and a launch gap.

Only kernels that call ``gdc_wait`` before their first read of an earlier kernel's output, and
before any write, may be launched with it (``launch_pdl=True``); ``gdc_launch_dependents`` is
safe in any kernel (a hint, no effect on a dependent launched without PDL). Both are inline
PTX that Triton's CPU interpreter cannot run: kernels take them behind a ``PDL`` constexpr that
``enabled`` turns on only for CUDA devices of compute capability 9.0 or more.
``EVALKIT_PDL=0`` turns it off (for A/B measurements)."""

from __future__ import annotations

import functools
import os

import torch


@functools.lru_cache(maxsize=16)
def _capable(index: int) -> bool:
    return torch.cuda.get_device_capability(index) >= (9, 0)


def launch(device: torch.device, rows: int) -> dict[str, bool]:
    """The launch arguments of a glue kernel that takes a ``PDL`` constexpr (and waits with
    ``gdc_wait`` behind it) for `rows` tokens: PDL on, and launched so, at one row where
    ``enabled`` (the GEMVs' decode step); off otherwise. At 16 and 64 rows, where the linears are
    tensor-core GEMMs launched without it, the decode step measured 3.6 % and 0.5 % slower with
    the glue kernels so launched (bench/results/kernels_h200_2026-12-02h/pdl_check_chain.json),
    and 6.7 % and 1.4 % slower with the Gluon GEMMs launched with it too, asking for their first
    block's words before the wait (kernels_h200_2026-12-04/call2_pdl_gemm_ab.json)."""
    return {"PDL": True, "launch_pdl": True} if rows == 1 and enabled(device) else {"PDL": False}


def enabled(device: torch.device) -> bool:
    """Whether kernels on `device` use PDL (CUDA, sm_90 or later, and EVALKIT_PDL not 0)."""
    if device.type != "cuda" or os.environ.get("EVALKIT_PDL", "1") == "0":
        return False
    return _capable(device.index if device.index is not None else torch.cuda.current_device())
