"""Building the tiny model directory, and caching it so each variant is built once per machine."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from safetensors.torch import save_file

from evalkit.errors import UsageError
from evalkit.tinymodel.checkpoint import DTYPE_NAME, VARIANTS, variant_state_dict
from evalkit.tinymodel.config import generation_config, model_config, quantization_config, round_up
from evalkit.tinymodel.readme import readme_text
from evalkit.tinymodel.tokenizer import train_tokenizer, write_tokenizer_files
from evalkit.tinymodel.weights import SEED, init_weights

# Bump whenever any built file would change: it names the cache directory.
BUILD_VERSION = 1
# Written last: a directory with a valid marker is complete.
MARKER = "evalkit_build.json"
VOCAB_MULTIPLE = 64


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise UsageError(f"unknown tiny model variant {variant!r}; expected one of {', '.join(VARIANTS)}")


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_tiny_model(out_dir: Path, variant: str) -> Path:
    """Write a complete HF-style model directory for ``variant`` into ``out_dir``; return it.

    Files: config.json, generation_config.json, model.safetensors, tokenizer.json,
    tokenizer_config.json, special_tokens_map.json, chat_template.jinja, README.md, and the
    completion marker evalkit_build.json (written last, with every file's sha256).
    Deterministic: two builds give byte-identical files. Takes about a second.
    """
    _check_variant(variant)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MARKER).unlink(missing_ok=True)

    tok = train_tokenizer()
    ids = write_tokenizer_files(tok, out_dir)
    n_tokens = tok.get_vocab_size(with_added_tokens=True)
    vocab_size = round_up(n_tokens, VOCAB_MULTIPLE)

    master = init_weights(vocab_size=vocab_size, n_tokens=n_tokens, seed=SEED)
    tensors = variant_state_dict(master, variant)
    save_file(tensors, str(out_dir / "model.safetensors"), metadata={"format": "pt"})

    quant = quantization_config(desc_act=variant == "gptq-actorder") if variant.startswith("gptq") else None
    config = model_config(vocab_size=vocab_size, ids=ids, dtype=DTYPE_NAME[variant], quantization=quant)
    _write_json(out_dir / "config.json", config)
    _write_json(out_dir / "generation_config.json", generation_config(ids))
    readme = readme_text(variant, BUILD_VERSION, vocab_size=vocab_size, n_tokens=n_tokens, seed=SEED)
    (out_dir / "README.md").write_text(readme, encoding="utf-8")

    files = sorted(p.name for p in out_dir.iterdir() if p.is_file() and p.name != MARKER)
    for f in files:
        os.chmod(out_dir / f, 0o644)  # safetensors writes 0600; the cache may be shared read-only
    hashes = {f: _sha256(out_dir / f) for f in files}
    marker = {"build_version": BUILD_VERSION, "variant": variant, "files": hashes}
    _write_json(out_dir / MARKER, marker)
    os.chmod(out_dir / MARKER, 0o644)
    return out_dir


def cache_root() -> Path:
    """``$EVALKIT_CACHE`` or ``~/.cache/evalkit``."""
    return Path(os.environ.get("EVALKIT_CACHE", Path.home() / ".cache" / "evalkit")).expanduser()


def tiny_model_dir(variant: str) -> Path:
    """Where :func:`ensure_tiny_model` keeps ``variant`` (whether or not it is built yet)."""
    return cache_root() / "models" / f"tiny-exaone4-{variant}-v{BUILD_VERSION}"


def is_complete(model_dir: Path) -> bool:
    """True when ``model_dir`` has a marker of this build version and every file it lists."""
    try:
        marker = json.loads((model_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(marker, dict) or marker.get("build_version") != BUILD_VERSION:
        return False
    files = marker.get("files")
    return isinstance(files, dict) and bool(files) and all((model_dir / f).is_file() for f in files)


def ensure_tiny_model(variant: str = "gptq") -> Path:
    """Return the cached directory of ``variant``, building it first if it is missing or incomplete.

    The build goes to a temporary directory beside the final one and is moved into place
    with one ``os.replace``, so readers never see a half-written model and two processes
    racing to build it both end up with a complete one (the loser discards its copy).
    """
    _check_variant(variant)
    final = tiny_model_dir(variant)
    if is_complete(final):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.building-", dir=final.parent))
    try:
        build_tiny_model(tmp, variant)
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700
        if final.exists() and not is_complete(final):
            # A damaged copy (files deleted by hand, an old layout): move it aside, then drop it.
            stale = Path(tempfile.mkdtemp(prefix=f".{final.name}.stale-", dir=final.parent))
            with contextlib.suppress(OSError):  # another process moved or replaced it first
                os.replace(final, stale / "model")
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.replace(tmp, final)
        except OSError:
            # Renaming onto a non-empty directory fails: another process finished first.
            if not is_complete(final):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
