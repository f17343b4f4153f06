"""Resolving a MODEL= (--model) value to a local directory: the embedded tiny model, a path, or a hub id."""

from __future__ import annotations

from pathlib import Path

from evalkit.errors import UsageError
from evalkit.wording import option

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


def _is_hub_id(name: str) -> bool:
    return name.count("/") == 1 and not name.startswith((".", "/", "~")) and not Path(name).exists()


def check_model(name: str) -> None:
    """Fail at once, naming the model, when it cannot be there: a missing directory, or a hub id
    while the hub is unreachable and the model is not in the local cache. Cheap: no weights read."""
    if name in TINY_MODELS:
        return
    p = Path(name).expanduser()
    if p.exists():
        if not (p / "config.json").is_file():
            raise UsageError(f"model directory {p} has no config.json")
        return
    if not _is_hub_id(name):
        raise UsageError(
            f"model {name!r} not found: no such directory, and not a hub id (owner/name) or an embedded "
            f"model ({', '.join(TINY_MODELS)}); check {option('model', name)}"
        )
    from evalkit.hub import is_cached, offline_reason

    offline = offline_reason()
    if offline and not is_cached(name, "config.json"):
        raise UsageError(
            f"model {name!r}: tried the local Hugging Face cache only ({offline}) and it is not there; "
            f"pass a local directory with {option('model', '/path')}"
        )


def resolve_model(name: str, *, revision: str | None = None) -> Path:
    """Return a local directory holding config.json, weights and tokenizer for `name`.

    `name` is one of the embedded tiny models, a local directory, or a Hugging Face hub id
    (downloaded through huggingface_hub into its cache, which honours HF_TOKEN and
    HF_HUB_OFFLINE; with the hub unreachable only the cache is read, without retries).
    """
    if name in TINY_MODELS:
        from evalkit.tinymodel import ensure_tiny_model

        return ensure_tiny_model(TINY_MODELS[name])
    check_model(name)
    p = Path(name).expanduser()
    if p.exists():
        return p
    from huggingface_hub import snapshot_download

    from evalkit.hub import offline_calls, offline_reason

    offline = offline_reason()
    try:
        with offline_calls(offline is not None):
            return Path(snapshot_download(repo_id=name, revision=revision))
    except Exception as e:  # network, auth (gated repo), or missing repo
        raise UsageError(
            f"cannot fetch model {name!r} from the Hugging Face hub ({type(e).__name__}: {e}); "
            f"pass a local directory with {option('model', '/path')} or set HF_TOKEN for gated repos"
        ) from e
