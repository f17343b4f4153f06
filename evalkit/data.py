"""Loading a task's rows: the bundled sample, a local copy, or the Hugging Face hub.

`source` is "sample" (the small file bundled in tasks/samples/), "hub" (HF `datasets`
at the spec's pinned revision; gated sets need HF_TOKEN), or a local path: a JSONL,
JSON, CSV or Parquet file (optionally .gz), a `save_to_disk` directory, or a local copy
of the hub repository laid out as on the hub (then `datasets` reads it offline).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.errors import DataError, UsageError
from evalkit.specs import TaskSpec


@dataclass(frozen=True)
class Row:
    id: str
    index: int
    fields: dict[str, Any]


@dataclass(frozen=True)
class LoadedData:
    rows: list[Row]
    source: str  # "sample", "hub:<id>@<rev>", or the local path
    path: str  # for error messages: the file or dataset the rows came from
    synthetic: bool


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return path.open("r", encoding="utf-8")


def read_records(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL/JSON/CSV/Parquet file into dicts; malformed rows name file and line."""
    name = path.name[:-3] if path.suffix == ".gz" else path.name
    if name.endswith(".parquet"):
        import pandas as pd

        return [dict(r) for r in pd.read_parquet(path).to_dict(orient="records")]
    with _open_text(path) as f:
        if name.endswith(".jsonl"):
            out = []
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    raise DataError(path, lineno, None, f"not valid JSON ({e.msg})") from e
                if not isinstance(rec, dict):
                    raise DataError(path, lineno, None, "each line must be a JSON object")
                out.append(rec)
            return out
        if name.endswith(".json"):
            try:
                data = json.load(f)
            except json.JSONDecodeError as e:
                raise DataError(path, None, None, f"not valid JSON ({e.msg})") from e
            if isinstance(data, dict):  # {"data": [...]} or a dict of columns
                data = data.get("data", data.get("rows", data))
            if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
                raise DataError(path, None, None, "expected a list of objects")
            return data
        if name.endswith(".csv"):
            return [dict(r) for r in csv.DictReader(f)]
    raise UsageError(f"{path}: unsupported data file type (use .jsonl, .json, .csv or .parquet)")


def _from_datasets(obj: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in obj]


def _load_local(spec: TaskSpec, path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise UsageError(f"data path {path} does not exist")
    if path.is_file():
        return read_records(path)
    import datasets

    split = spec.data.hub.split if spec.data.hub else "test"
    if (path / "dataset_dict.json").exists() or (path / "state.json").exists():
        ds = datasets.load_from_disk(str(path))
        if isinstance(ds, datasets.DatasetDict):
            if split not in ds:
                raise UsageError(f"{path}: no split {split!r} (has {', '.join(ds)})")
            ds = ds[split]
        return _from_datasets(ds)
    # A local copy of the hub repository: let `datasets` resolve its data files offline.
    name = spec.data.hub.name if spec.data.hub else None
    try:
        ds = datasets.load_dataset(str(path), name, split=split)
    except Exception as e:
        raise UsageError(f"{path}: cannot read as a dataset copy ({type(e).__name__}: {e})") from e
    return _from_datasets(ds)


def _load_hub(spec: TaskSpec) -> tuple[list[dict[str, Any]], str]:
    hub = spec.data.hub
    if hub is None:
        raise UsageError(f"task {spec.name} has no hub source; pass DATA=/path/to/local/copy")
    import datasets

    try:
        ds = datasets.load_dataset(hub.path, hub.name, split=hub.split, revision=hub.revision)
    except Exception as e:
        hint = " (gated dataset: accept its terms on the hub and set HF_TOKEN)" if hub.gated else ""
        raise UsageError(
            f"cannot load {hub.path} from the Hugging Face hub{hint}: {type(e).__name__}: {e}. "
            "Pass DATA=/path/to/local/copy to use a local copy."
        ) from e
    return _from_datasets(ds), f"hub:{hub.path}@{hub.revision or 'main'}"


def load_rows(spec: TaskSpec, source: str = "sample", limit: int | None = None) -> LoadedData:
    """Load the rows of a task from `source` ("sample", "hub" or a path), ids attached."""
    synthetic = False
    if source == "sample":
        if not spec.data.sample:
            raise UsageError(f"task {spec.name} bundles no sample; use DATA=hub or DATA=/path")
        path = spec.tasks_dir / spec.data.sample
        records, label, synthetic = read_records(path), "sample", spec.data.sample_synthetic
        where = str(path)
    elif source == "hub":
        records, label = _load_hub(spec)
        where = label
    else:
        path = Path(source).expanduser()
        records, label, where = _load_local(spec, path), str(path), str(path)
    rows: list[Row] = []
    seen: set[str] = set()
    for i, rec in enumerate(records):
        if spec.data.id_field:
            if spec.data.id_field not in rec or rec[spec.data.id_field] in (None, ""):
                raise DataError(where, i + 1, spec.data.id_field, "missing id")
            rid = str(rec[spec.data.id_field])
        else:
            rid = str(i)
        if rid in seen:
            raise DataError(where, i + 1, spec.data.id_field or "id", f"duplicate id {rid!r}")
        seen.add(rid)
        rows.append(Row(id=rid, index=i, fields=rec))
    if limit is not None:
        rows = rows[:limit]
    return LoadedData(rows=rows, source=label, path=where, synthetic=synthetic)
