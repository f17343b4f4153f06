"""Triton kernels of the fast GPU path (W4A16 linears, attention, the glue between them).

They also run on a CPU through Triton's interpreter (``TRITON_INTERPRET=1``, set before
this package is imported), which is how CI tests them against the plain-PyTorch reference.
"""
