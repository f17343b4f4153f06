"""Task specs: declarative YAML files in tasks/, validated into typed records.

A spec names its data source (hub id at a pinned revision, split, fields), its prompt,
its family (the Python hooks that build samples, run their model calls and score answers), its metric, the
generation settings per mode, and the published figure it is compared with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from evalkit.errors import DataError
from evalkit.spec_schema import validate_task_spec

Mode = Literal["reasoning", "non-reasoning"]
MODES: tuple[Mode, ...] = ("reasoning", "non-reasoning")


@dataclass(frozen=True)
class HubSource:
    path: str
    split: str
    name: str | None = None
    revision: str | None = None
    gated: bool = False
    # Datasets split into one config per subject (MMLU-Redux): all of them are read and
    # concatenated; each row gets its config's name in `config_field` and its index within
    # the config in `config_index_field`.
    configs: tuple[str, ...] = ()
    config_field: str | None = None
    config_index_field: str | None = None
    # Datasets published as raw data files behind a loading script (which current `datasets`
    # no longer runs, e.g. LiveCodeBench): these files of the repository are downloaded and read.
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class DataSpec:
    hub: HubSource | None
    id_field: str | list[str] | None  # None: the row index is the id; a list: fields joined by "/"
    sample: str | None  # bundled sample, relative to tasks/
    sample_synthetic: bool
    fields: dict[str, Any]  # family-specific mapping of dataset columns
    # A local copy used by default when it exists (path relative to the directory holding
    # tasks/, e.g. ../shared/data/...); `--data local` asks for it explicitly.
    local_default: str | None = None
    # Keep only rows whose field has one of the listed values (e.g. MMLU-Redux error_type: [ok]).
    # Applied after ids are assigned, so ids do not depend on the filter.
    filter: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    # Keep only rows whose date field lies in [start, end] (YYYY-MM-DD, both inclusive, compared
    # as datetimes like LiveCodeBench's --start_date/--end_date): {field, start, end}.
    window: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModeSettings:
    temperature: float
    top_p: float = 1.0
    top_k: int = 0
    presence_penalty: float = 0.0
    max_new_tokens: int = 1024
    n: int = 1


@dataclass(frozen=True)
class TaskSpec:
    name: str
    title: str
    family: str
    data: DataSpec
    prompt: dict[str, Any]
    scoring: dict[str, Any]
    metric: str
    modes: dict[str, ModeSettings]
    published_benchmark: str | None
    provenance: str
    path: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tasks_dir(self) -> Path:
        return self.path.parent

    def settings(self, mode: str) -> ModeSettings:
        return self.modes[mode]


_TOP_KEYS = {
    "name",
    "title",
    "family",
    "data",
    "prompt",
    "scoring",
    "metric",
    "modes",
    "published",
    "provenance",
    "extra",
}


def _req(d: dict[str, object], key: str, path: Path, where: str) -> Any:
    if key not in d or d[key] is None:
        raise DataError(path, None, f"{where}{key}", "missing required key")
    return d[key]


def _check_template(template: str, path: Path) -> None:
    """A template Jinja cannot compile fails here, naming the spec, not at the first sample."""
    import jinja2

    from evalkit.prompts import _compile

    try:
        _compile(template)
    except jinja2.TemplateSyntaxError as e:
        raise DataError(
            path, None, "prompt.template", f"invalid Jinja template (line {e.lineno}): {e.message}"
        ) from e


def load_spec(path: Path) -> TaskSpec:
    """Read and validate one task spec; errors name the file and the offending key."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise DataError(path, None, None, f"invalid YAML: {e}") from e
    if not isinstance(raw, dict):
        raise DataError(path, None, None, "a task spec must be a mapping")
    if "solver" in raw:  # specs named a solver by Python path until the families chose their own
        raise DataError(
            path,
            None,
            "solver",
            "a task no longer names its solver: its family chooses it (remove the key; "
            "per-repeat option shuffling is `prompt.shuffle: {seed: N}` of multiple_choice)",
        )
    validate_task_spec(raw, path)  # types, ranges, unknown keys (evalkit.spec_schema)
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise DataError(path, None, sorted(unknown)[0], "unknown key")
    name = _req(raw, "name", path, "")
    if name != path.stem:
        raise DataError(path, None, "name", f"must equal the file name {path.stem!r}")

    d = _req(raw, "data", path, "")
    hub = None
    if d.get("hub"):
        h = d["hub"]
        hub = HubSource(
            path=_req(h, "path", path, "data.hub."),
            split=_req(h, "split", path, "data.hub."),
            name=h.get("name"),
            revision=h.get("revision"),
            gated=bool(h.get("gated", False)),
            configs=tuple(str(c) for c in h.get("configs") or ()),
            config_field=h.get("config_field"),
            config_index_field=h.get("config_index_field"),
            files=tuple(str(f) for f in h.get("files") or ()),
        )
        if hub.configs and not hub.config_field:
            raise DataError(path, None, "data.hub.config_field", "required when data.hub.configs is set")
    row_filter = d.get("filter") or {}
    if not isinstance(row_filter, dict) or not all(isinstance(v, list) for v in row_filter.values()):
        raise DataError(path, None, "data.filter", "expected a mapping of field -> list of values to keep")
    data = DataSpec(
        hub=hub,
        id_field=d.get("id_field"),
        sample=d.get("sample"),
        sample_synthetic=bool(d.get("sample_synthetic", False)),
        fields=dict(d.get("fields") or {}),
        local_default=d.get("local_default"),
        filter={str(k): tuple(v) for k, v in row_filter.items()},
        window={str(k): str(v) for k, v in (d.get("window") or {}).items()},
    )
    if data.window and not data.window.get("field"):
        raise DataError(path, None, "data.window.field", "missing required key")
    if data.sample and not (path.parent / data.sample).is_file():
        raise DataError(path, None, "data.sample", f"bundled sample {data.sample} not found")

    modes: dict[str, ModeSettings] = {}
    for mode, m in _req(raw, "modes", path, "").items():
        if mode not in MODES:
            raise DataError(path, None, f"modes.{mode}", f"mode must be one of {MODES}")
        try:
            modes[mode] = ModeSettings(**m)
        except TypeError as e:
            raise DataError(path, None, f"modes.{mode}", str(e)) from e
    prompt = _req(raw, "prompt", path, "")
    _req(prompt, "template", path, "prompt.")
    _req(prompt, "source", path, "prompt.")
    _check_template(prompt["template"], path)
    return TaskSpec(
        name=name,
        title=raw.get("title", name),
        family=_req(raw, "family", path, ""),
        data=data,
        prompt=prompt,
        scoring=dict(raw.get("scoring") or {}),
        metric=raw.get("metric", "accuracy"),
        modes=modes,
        published_benchmark=(raw.get("published") or {}).get("benchmark"),
        provenance=_req(raw, "provenance", path, ""),
        path=path,
        extra=dict(raw.get("extra") or {}),
    )
