"""Tensors of a safetensors checkpoint by name: one file, or shards listed in an index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from evalkit.runners.torch_int4.config import read_json
from evalkit.runners.torch_int4.errors import CheckpointError

INDEX_FILE = "model.safetensors.index.json"


class CheckpointReader:
    """Lazy, name-addressed access to the tensors of a model directory.

    Tensors are read one at a time (memory-mapped by safetensors), so loading an 18 GB
    checkpoint never holds two copies of it. Shards come from
    ``model.safetensors.index.json`` when it exists, else every ``*.safetensors`` file.
    """

    def __init__(self, model_dir: Path):
        self.model_dir = model_dir
        self._file_of: dict[str, Path] = {}
        index = model_dir / INDEX_FILE
        if index.is_file():
            weight_map = read_json(index).get("weight_map")
            if not isinstance(weight_map, dict) or not weight_map:
                raise CheckpointError(index, None, "weight_map", "missing or empty")
            for name, shard in weight_map.items():
                path = model_dir / shard
                if not path.is_file():
                    raise CheckpointError(index, None, f"weight_map.{name}", f"shard {shard} does not exist")
                self._file_of[name] = path
        else:
            files = sorted(model_dir.glob("*.safetensors"))
            if not files:
                raise CheckpointError(model_dir, None, None, "no *.safetensors files (and no index)")
            for path in files:
                with safe_open(str(path), framework="pt") as f:
                    for name in f.keys():  # noqa: SIM118 - safe_open is not a mapping
                        self._file_of[name] = path
        self._handles: dict[Path, Any] = {}

    def names(self) -> list[str]:
        """Every tensor name in the checkpoint."""
        return list(self._file_of)

    def has(self, name: str) -> bool:
        """True when the checkpoint holds a tensor called `name`."""
        return name in self._file_of

    def file_of(self, name: str) -> Path:
        """The file a tensor lives in (for error messages); the directory if it is absent."""
        return self._file_of.get(name, self.model_dir)

    def get(self, name: str) -> torch.Tensor:
        """Load one tensor onto the CPU, as stored (no dtype conversion)."""
        path = self._file_of.get(name)
        if path is None:
            raise CheckpointError(self.model_dir, None, name, "tensor missing from the checkpoint")
        handle = self._handles.get(path)
        if handle is None:
            handle = self._handles[path] = safe_open(str(path), framework="pt")
        tensor: torch.Tensor = handle.get_tensor(name)
        return tensor

    def close(self) -> None:
        """Drop the open file handles."""
        self._handles.clear()
