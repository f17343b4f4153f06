"""Resolving a MODEL= value to a local directory: the embedded tiny model, a path, or a hub id."""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path

from evalkit.errors import UsageError

# The model whose samples are being built (set by the pipeline around build_sample): families
# that size prompts in the model's own tokens (RULER, LongBench truncation) read it.
BUILD_MODEL: ContextVar[str | None] = ContextVar("BUILD_MODEL", default=None)

# Names of the embedded models the project builds itself (see evalkit.tinymodel).
TINY_MODELS = {
    "tiny": "gptq",
    "tiny-gptq": "gptq",
    "tiny-gptq-actorder": "gptq-actorder",
    "tiny-bf16": "bf16",
    "tiny-fp32": "fp32",
}
DEFAULT_MODEL = "tiny"


def is_tiny(name: str) -> bool:
    return name in TINY_MODELS


def resolve_model(name: str, *, revision: str | None = None) -> Path:
    """Return a local directory holding config.json, weights and tokenizer for `name`.

    `name` is one of the embedded tiny models, a local directory, or a Hugging Face hub id
    (downloaded through huggingface_hub into its cache, which honours HF_TOKEN and
    HF_HUB_OFFLINE).
    """
    if name in TINY_MODELS:
        from evalkit.tinymodel import ensure_tiny_model

        return ensure_tiny_model(TINY_MODELS[name])
    p = Path(name).expanduser()
    if p.exists():
        if not (p / "config.json").is_file():
            raise UsageError(f"model directory {p} has no config.json")
        return p
    if name.count("/") == 1 and not name.startswith((".", "/")):
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(repo_id=name, revision=revision))
        except Exception as e:  # network, auth (gated repo), or missing repo
            raise UsageError(
                f"cannot fetch model {name!r} from the Hugging Face hub ({type(e).__name__}: {e}); "
                "pass a local directory with MODEL=/path or set HF_TOKEN for gated repos"
            ) from e
    raise UsageError(
        f"model {name!r} is neither an embedded model ({', '.join(TINY_MODELS)}), a directory, nor a hub id"
    )
