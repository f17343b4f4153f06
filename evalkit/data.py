"""Loading a task's rows: the bundled sample, a local copy, or the Hugging Face hub.

`source` is "sample" (the small file bundled in tasks/samples/), "hub" (HF `datasets`
at the spec's pinned revision; gated sets need HF_TOKEN), "local" (the spec's
`local_default` copy, e.g. ../shared/data), or a local path: a JSONL,
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
from evalkit.hub import offline_calls, offline_reason
from evalkit.specs import TaskSpec
from evalkit.wording import option


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


def read_records(path: Path) -> list[dict[str, object]]:
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


def _from_datasets(obj: Any) -> list[dict[str, object]]:
    return [dict(r) for r in obj]


def _hub_configs(spec: TaskSpec) -> list[str | None]:
    """The dataset configs to read: the spec's list (concatenated in order), else its one name."""
    hub = spec.data.hub
    if hub is None:
        return [None]
    return list(hub.configs) if hub.configs else [hub.name]


def _tag_config(
    records: list[dict[str, object]], spec: TaskSpec, config: str | None
) -> list[dict[str, object]]:
    """Mark rows read from one of several configs with the config's name and their index in it."""
    hub = spec.data.hub
    if hub is None or not hub.configs:
        return records
    for i, rec in enumerate(records):
        if hub.config_field:
            rec[hub.config_field] = config
        if hub.config_index_field:
            rec[hub.config_index_field] = i
    return records


def _load_local(spec: TaskSpec, path: Path) -> list[dict[str, object]]:
    if not path.exists():
        raise UsageError(f"data path {path} does not exist")
    if path.is_file():
        return read_records(path)
    reader = spec.extra.get("local_reader")
    if reader:  # a release layout the task reads itself (e.g. HELMET's unpacked data.tar.gz)
        import importlib

        module, _, func = str(reader).partition(":")
        return list(getattr(importlib.import_module(module), func)(spec, path))
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
    records: list[dict[str, object]] = []
    for name in _hub_configs(spec):
        try:
            ds = datasets.load_dataset(str(path), name, split=split)
        except Exception as e:
            raise UsageError(f"{path}: cannot read as a dataset copy ({type(e).__name__}: {e})") from e
        records += _tag_config(_from_datasets(ds), spec, name)
    return records


def _hub_error(spec: TaskSpec, what: str, e: Exception, offline: str | None) -> UsageError:
    """Why a hub load failed, naming what was tried and the option that avoids the hub."""
    hub = spec.data.hub
    assert hub is not None
    copy = option("data", "/path/to/local/copy")
    if offline:  # nothing was retried: only the local HF cache was read
        return UsageError(
            f"task {spec.name}: tried {what} of {hub.path}@{hub.revision or 'main'} from the local "
            f"Hugging Face cache only ({offline}), and it is not there. Pass {copy}, "
            f"or {option('data', 'sample')} for the bundled sample."
            + (" (Gated: with the hub reachable, accept its terms and set HF_TOKEN.)" if hub.gated else "")
        )
    hint = " (gated dataset: accept its terms on the hub and set HF_TOKEN)" if hub.gated else ""
    return UsageError(
        f"task {spec.name}: cannot load {what} of {hub.path} from the Hugging Face hub{hint}: "
        f"{type(e).__name__}: {e}. Pass {copy} to use a local copy."
    )


def _load_hub(spec: TaskSpec) -> tuple[list[dict[str, object]], str]:
    hub = spec.data.hub
    if hub is None:
        raise UsageError(f"task {spec.name} has no hub source; pass {option('data', '/path/to/local/copy')}")
    offline = offline_reason()
    if hub.files:
        return _load_hub_files(spec, offline), f"hub:{hub.path}@{hub.revision or 'main'}"
    import datasets

    records: list[dict[str, object]] = []
    for name in _hub_configs(spec):
        try:
            with offline_calls(offline is not None):
                ds = datasets.load_dataset(hub.path, name, split=hub.split, revision=hub.revision)
        except Exception as e:
            raise _hub_error(spec, f"config {name}" if name else "the dataset", e, offline) from e
        records += _tag_config(_from_datasets(ds), spec, name)
    return records, f"hub:{hub.path}@{hub.revision or 'main'}"


def _load_hub_files(spec: TaskSpec, offline: str | None) -> list[dict[str, object]]:
    """Download the spec's data files from the hub (cached by huggingface_hub) and read them."""
    from huggingface_hub import hf_hub_download

    hub = spec.data.hub
    assert hub is not None
    records: list[dict[str, object]] = []
    for name in hub.files:
        try:
            with offline_calls(offline is not None):
                local = hf_hub_download(hub.path, name, repo_type="dataset", revision=hub.revision)
        except Exception as e:
            raise _hub_error(spec, f"file {name}", e, offline) from e
        records += read_records(Path(local))
    return records


def local_default_path(spec: TaskSpec) -> Path | None:
    """The spec's default local copy (relative to the directory holding tasks/), if it names one."""
    if not spec.data.local_default:
        return None
    return (spec.tasks_dir.parent / spec.data.local_default).resolve()


def default_source(spec: TaskSpec) -> str:
    """Where a real-model run reads from when no DATA= / --data is given: the spec's local copy if it
    exists on this machine (e.g. ../shared/data), else the hub."""
    path = local_default_path(spec)
    return str(path) if path is not None and path.exists() else "hub"


def _row_id(rec: dict[str, object], id_field: str | list[str], where: str, lineno: int) -> str:
    fields = [id_field] if isinstance(id_field, str) else list(id_field)
    parts = []
    for f in fields:
        if f not in rec or rec[f] in (None, ""):
            raise DataError(where, lineno, f, "missing id")
        parts.append(str(rec[f]))
    return "/".join(parts)


def _in_window(row: Row, window: dict[str, str], where: str) -> bool:
    """Is the row's date field within the spec's [start, end] window (dates inclusive)?"""
    from datetime import datetime

    name = window["field"]
    raw = row.fields.get(name)
    try:
        value = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
    except ValueError as e:
        raise DataError(where, row.index + 1, name, f"not an ISO date: {raw!r}") from e
    value = value.replace(tzinfo=None)
    if window.get("start") and value < datetime.strptime(window["start"], "%Y-%m-%d"):
        return False
    return not (window.get("end") and value > datetime.strptime(window["end"], "%Y-%m-%d"))


def load_rows(spec: TaskSpec, source: str = "sample", limit: int | None = None) -> LoadedData:
    """Load the rows of a task from `source` ("sample", "hub" or a path), ids attached."""
    synthetic = False
    if source == "sample":
        if not spec.data.sample:
            raise UsageError(
                f"task {spec.name} bundles no sample; "
                f"use {option('data', 'hub')} or {option('data', '/path')}"
            )
        path = spec.tasks_dir / spec.data.sample
        records, label, synthetic = read_records(path), "sample", spec.data.sample_synthetic
        where = str(path)
    elif source == "hub":
        records, label = _load_hub(spec)
        where = label
    elif source == "local":
        local = local_default_path(spec)
        if local is None:
            raise UsageError(f"task {spec.name} names no local copy (data.local_default); pass a path")
        if not local.exists():
            raise UsageError(f"task {spec.name}: its local copy {local} does not exist on this machine")
        records, label, where = _load_local(spec, local), str(local), str(local)
    else:
        path = Path(source).expanduser()
        records, label, where = _load_local(spec, path), str(path), str(path)
    rows: list[Row] = []
    seen: set[str] = set()
    for i, rec in enumerate(records):
        rid = _row_id(rec, spec.data.id_field, where, i + 1) if spec.data.id_field else str(i)
        if rid in seen:
            raise DataError(where, i + 1, str(spec.data.id_field or "id"), f"duplicate id {rid!r}")
        seen.add(rid)
        rows.append(Row(id=rid, index=i, fields=rec))
    if spec.data.filter:
        rows = [r for r in rows if all(r.fields.get(k) in v for k, v in spec.data.filter.items())]
    if spec.data.window:
        rows = [r for r in rows if _in_window(r, spec.data.window, where)]
    if limit is not None:
        rows = rows[:limit]
    return LoadedData(rows=rows, source=label, path=where, synthetic=synthetic)
