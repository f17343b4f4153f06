"""evalkit: an evaluation harness for EXAONE 4.0 and its quantized checkpoints."""

__version__ = "0.1.0"
