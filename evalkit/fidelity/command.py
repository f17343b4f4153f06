"""`evalkit fidelity`: the command behind the CLI subcommand."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from evalkit.errors import UsageError
from evalkit.fidelity.measure import measure_fidelity, render_summary
from evalkit.fidelity.texts import DEFAULT_TEXTS, load_texts
from evalkit.fingerprint import hash_obj
from evalkit.models import is_tiny
from evalkit.registry import REPO_ROOT


def run_command(args: argparse.Namespace) -> int:
    from evalkit.runners.profiles import load_profile, make_runner

    cand_profile = load_profile(args.runner)
    ref_profile = load_profile(args.reference_runner or args.runner)
    cand_model = args.model or cand_profile.model
    ref_model = args.reference_model or ("tiny-fp32" if is_tiny(cand_model) else None)
    if ref_model is None:
        raise UsageError(
            "--reference-model is required (e.g. the bf16 checkpoint the GPTQ one was made from)"
        )
    texts_path = Path(args.texts) if args.texts else DEFAULT_TEXTS
    texts = load_texts(texts_path, args.limit)
    labels = (
        {"model": cand_model, "runner_profile": cand_profile.name},
        {"model": ref_model, "runner_profile": ref_profile.name},
    )
    reference = make_runner(ref_profile, ref_model)
    try:
        candidate = make_runner(cand_profile, cand_model)
        try:
            result = measure_fidelity(
                candidate,
                reference,
                texts,
                texts_path=texts_path,
                hidden_states=not args.no_hidden_states,
                labels=labels,
            )
        except NotImplementedError as e:
            raise UsageError(
                f"{e}; fidelity needs runners that return logits (torch-int4, transformers)"
            ) from e
        finally:
            candidate.close()
    finally:
        reference.close()
    out = Path(args.out) if args.out else _default_out(labels, texts_path, args.limit)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result.to_dict(), indent=1, ensure_ascii=False), encoding="utf-8")
    print(render_summary(result))
    print(f"fidelity: {out}", file=sys.stderr)
    return 0


def _default_out(labels: tuple[dict[str, str], dict[str, str]], texts: Path, limit: int | None) -> Path:
    root = Path(os.environ.get("EVALKIT_RESULTS", REPO_ROOT / "results" / "runs"))
    key = hash_obj([labels, str(texts), limit])[:8]
    name = f"fidelity-{Path(labels[0]['model']).name}-vs-{Path(labels[1]['model']).name}-{key}"
    return root / name / "fidelity.json"
