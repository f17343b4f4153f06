"""The one error type of the torch_int4 loader: a checkpoint the runner cannot use as it is."""

from __future__ import annotations

from evalkit.errors import DataError


class CheckpointError(DataError):
    """A config field or tensor that is missing, malformed, or of an unsupported kind.

    Like every DataError it names the file and the field (a config key such as
    ``quantization_config.bits`` or a tensor name), so the message says what to fix.
    """
