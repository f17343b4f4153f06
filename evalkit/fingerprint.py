"""Content fingerprints: what makes a cached completion valid for a later run."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

_CHUNK = 1 << 22
# Files that change what a model computes or how prompts are rendered.
_MODEL_SUFFIXES = (".safetensors", ".json", ".jinja", ".model", ".txt", ".bin")


def canonical_json(obj: Any) -> str:
    """Stable JSON text for hashing: sorted keys, no whitespace, UTF-8 kept."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def hash_obj(obj: Any) -> str:
    # surrogatepass: a lone surrogate of model output (a multi-turn prompt quotes it) still
    # hashes; every other text encodes exactly as plain UTF-8, so no existing key changes.
    return hashlib.sha256(canonical_json(obj).encode("utf-8", "surrogatepass")).hexdigest()


def _cache_path() -> Path:
    root = Path(os.environ.get("EVALKIT_CACHE", Path.home() / ".cache" / "evalkit"))
    return root / "file-digests.json"


def file_digest(path: Path) -> str:
    """sha256 of a file, memoised on (path, size, mtime) so an 18 GB checkpoint is read once."""
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    cache_file = _cache_path()
    cache: dict[str, str] = {}
    if cache_file.exists():
        try:
            cache = json.loads(cache_file.read_text())
        except (OSError, ValueError):
            cache = {}
    if key in cache:
        return cache[key]
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    digest = h.hexdigest()
    if st.st_size > (64 << 20):  # only worth remembering for big files
        cache[key] = digest
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(cache))
            tmp.replace(cache_file)
        except OSError:
            pass
    return digest


def fingerprint_dir(path: Path) -> str:
    """Fingerprint of a model directory: the digests of every file that affects outputs."""
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in _MODEL_SUFFIXES)
    return hash_obj({str(p.relative_to(path)): file_digest(p) for p in files})
