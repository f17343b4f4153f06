"""The HF datasets HELMET's data.py loads at run time (ICL, LongQA, Summ): from a local copy laid
out as on the hub, or from the hub through `huggingface_hub` (cached; honours HF_TOKEN and
HF_HUB_OFFLINE).

Local copies live beside the unpacked release, one folder per hub repository:
`<DATA>/hf/<owner>/<name>/...` (or `<DATA>/hf/<name>` for an id without owner). Two layouts are read:

* the hub's parquet conversion (branch `refs/convert/parquet`): `<config>/<split>/*.parquet`,
  which exists for every public dataset, script-based ones included (datasets >= 4 no longer
  runs loading scripts, and CogComp/trec, PolyAI/banking77 and the NLU set are script-based);
* plain repository files (InfiniteBench's `longbook_*.jsonl`), read by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evalkit.errors import UsageError

PARQUET_BRANCH = "refs/convert/parquet"


def local_copy(hf_root: Path | None, repo: str) -> Path | None:
    """The local copy of `repo` under `hf_root`, if there is one."""
    if hf_root is None:
        return None
    path = hf_root / repo
    return path if path.is_dir() else None


def _read_parquet(files: list[Path], columns: list[str] | None) -> list[dict[str, object]]:
    import pyarrow.parquet as pq

    rows: list[dict[str, object]] = []
    for f in files:
        rows += pq.read_table(f, columns=columns).to_pylist()
    return rows


def _split_files(root: Path, config: str, split: str) -> list[Path]:
    """The parquet files of one split: `<config>/<split>/NNNN.parquet` (the current conversion),
    or `<config>/*-<split>.parquet` (the older one)."""
    files = sorted((root / config / split).glob("*.parquet"))
    return files or sorted((root / config).glob(f"*-{split}.parquet"))


def parquet_split(
    hf_root: Path | None, repo: str, config: str, split: str, columns: list[str] | None = None
) -> list[dict[str, object]]:
    """The rows of one split, in the dataset's order, from the local copy or the hub's parquet branch."""
    return _read_parquet(split_files(hf_root, repo, config, split), columns)


def iter_split(
    hf_root: Path | None, repo: str, config: str, split: str, columns: list[str] | None = None
) -> Iterator[dict[str, Any]]:
    """The rows of one split, one batch in memory at a time (NarrativeQA's rows hold whole books)."""
    import pyarrow.parquet as pq

    for f in split_files(hf_root, repo, config, split):
        for batch in pq.ParquetFile(f).iter_batches(batch_size=64, columns=columns):
            yield from batch.to_pylist()


def split_files(hf_root: Path | None, repo: str, config: str, split: str) -> list[Path]:
    """The parquet files of one split, from the local copy or downloaded from the parquet branch."""
    root = local_copy(hf_root, repo)
    if root is None:
        from huggingface_hub import snapshot_download

        try:
            root = Path(
                snapshot_download(
                    repo,
                    repo_type="dataset",
                    revision=PARQUET_BRANCH,
                    allow_patterns=[f"{config}/{split}/*.parquet", f"{config}/*-{split}.parquet"],
                )
            )
        except Exception as e:
            raise UsageError(
                f"cannot download {repo} ({config}/{split}) from the Hugging Face hub: "
                f"{type(e).__name__}: {e}. "
                f"Put a copy of its {PARQUET_BRANCH} branch under {hf_root or '<DATA>/hf'}/{repo} "
                "(docs/long-context.md)"
            ) from e
    files = _split_files(root, config, split)
    if not files:
        raise UsageError(f"{root}: no {config}/{split}/*.parquet files")
    return files


def repo_file(hf_root: Path | None, repo: str, filename: str) -> Path:
    """One file of a dataset repository (main branch), local copy first."""
    root = local_copy(hf_root, repo)
    if root is not None:
        if not (root / filename).is_file():
            raise UsageError(f"{root / filename}: missing from the local copy of {repo}")
        return root / filename
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo, filename, repo_type="dataset"))
    except Exception as e:
        raise UsageError(
            f"cannot download {filename} of {repo} from the Hugging Face hub: {type(e).__name__}: {e}. "
            f"Put a copy under {hf_root or '<DATA>/hf'}/{repo}/{filename} (docs/long-context.md)"
        ) from e


def tokenizer(hf_root: Path | None, name: str) -> Any:
    """A tokenizer by hub id (gated ones need HF_TOKEN), a local copy under `hf_root` first."""
    from transformers import AutoTokenizer

    local = local_copy(hf_root, name)
    try:
        return AutoTokenizer.from_pretrained(str(local) if local is not None else name)
    except Exception as e:
        raise UsageError(
            f"cannot load the tokenizer {name}: {type(e).__name__}: {e}. HELMET pre-cuts the LongQA and "
            f"Summ documents with it: accept its licence on the hub and set HF_TOKEN, or put a copy under "
            f"{hf_root or '<DATA>/hf'}/{name}"
        ) from e
