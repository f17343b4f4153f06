"""KL divergence and top-1 agreement of two runners' next-token distributions over a fixed text set.

A cheap, low-noise quantization signal: where a benchmark needs thousands of sampled
answers to see a 1-point drop, teacher-forced next-token distributions show the int4
model drifting from its reference at every token. Both runners see exactly the same
token ids (the candidate's rendering is checked against the reference's); every
continuation token is one observation, every text one cluster for the intervals.

- KL(reference ‖ candidate) per token, in nats: how much probability mass the candidate
  moves away from where the reference puts it (the direction llama.cpp's KL check uses).
- top-1 agreement: the share of tokens where both runners' most likely next token is the same.
- per layer (where both runners expose it): the relative error ‖h_c − h_r‖ / ‖h_r‖ of the
  residual stream after each decoder layer, and how much each layer *adds* to it, grouped
  by attention kind (EXAONE 4 interleaves sliding-window RoPE layers with global NoPE ones:
  a bug or a bad quantization of one kind shows up there).
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.errors import UsageError
from evalkit.fidelity.texts import DEFAULT_TEXTS, FidelityText
from evalkit.records import ChatRequest, SamplingParams
from evalkit.runners.base import Runner, TokenLogits
from evalkit.stats import bootstrap_ratio_interval, ratio_rate_interval

SCHEMA = "evalkit.fidelity/1"


@dataclass
class TextResult:
    """Sums over one text's continuation tokens (sums, so texts pool by token)."""

    id: str
    lang: str
    kind: str
    tokens: int
    kl_sum: float
    kl_max: float
    top1_agree: int
    # Per layer: relative hidden-state error averaged over the continuation tokens.
    hidden_rel_error: list[float] | None = None


@dataclass
class FidelityResult:
    """Everything one `evalkit fidelity` measurement found; JSON via `to_dict`."""

    candidate: dict[str, object]
    reference: dict[str, object]
    texts_path: str
    texts_sha256: str
    texts: list[TextResult]
    kl_per_token: list[float]  # every continuation token, text order (for quantiles)
    layer_types: list[str] | None
    placeholder_model: bool
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        return sum(t.tokens for t in self.texts)

    def kl_interval(self, level: float = 0.95) -> Any:
        """Token-weighted mean KL with a cluster-bootstrap interval over texts."""
        return bootstrap_ratio_interval(
            [t.kl_sum for t in self.texts], [t.tokens for t in self.texts], level, seed=0
        )

    def top1_interval(self, level: float = 0.95) -> Any:
        """Token-weighted top-1 agreement with its interval over texts (`ratio_rate_interval`:
        a rate, so it keeps its coverage at 100 % agreement, where a bootstrap gives [1, 1])."""
        return ratio_rate_interval([t.top1_agree for t in self.texts], [t.tokens for t in self.texts], level)

    def layer_summary(self) -> dict[str, object] | None:
        """Per-layer relative error (token-weighted over texts) and its per-kind averages."""
        rows = [(t.tokens, t.hidden_rel_error) for t in self.texts if t.hidden_rel_error]
        if not rows or not self.layer_types:
            return None
        weights = np.array([w for w, _ in rows], dtype=float)
        per_layer = (np.array([e for _, e in rows]) * weights[:, None]).sum(0) / weights.sum()
        added = np.diff(np.concatenate(([0.0], per_layer)))
        by_type: dict[str, dict[str, float]] = {}
        for kind in sorted(set(self.layer_types)):
            idx = [i for i, k in enumerate(self.layer_types) if k == kind]
            by_type[kind] = {
                "layers": len(idx),
                "mean_rel_error": float(per_layer[idx].mean()),
                "mean_added_rel_error": float(added[idx].mean()),
            }
        return {
            "types": list(self.layer_types),
            "rel_error": [float(x) for x in per_layer],
            "added_rel_error": [float(x) for x in added],
            "by_type": by_type,
        }

    def summary(self, level: float = 0.95) -> dict[str, Any]:
        kl, top1 = self.kl_interval(level), self.top1_interval(level)
        q = np.quantile(self.kl_per_token, [0.5, 0.9, 0.99]) if self.kl_per_token else [math.nan] * 3
        by_lang: dict[str, dict[str, float]] = {}
        groups: dict[str, list[TextResult]] = defaultdict(list)
        for t in self.texts:
            groups[t.lang or "(none)"].append(t)
        for lang, ts in sorted(groups.items()):
            n = sum(t.tokens for t in ts)
            by_lang[lang] = {
                "texts": len(ts),
                "tokens": n,
                "kl_mean": sum(t.kl_sum for t in ts) / n,
                "top1_agreement": sum(t.top1_agree for t in ts) / n,
            }
        return {
            "texts": len(self.texts),
            "tokens": self.tokens,
            "kl": {
                "mean": kl.estimate,
                "ci": [kl.low, kl.high],
                "median": float(q[0]),
                "p90": float(q[1]),
                "p99": float(q[2]),
                "max": max(self.kl_per_token, default=math.nan),
            },
            "top1_agreement": {"value": top1.estimate, "ci": [top1.low, top1.high]},
            "level": level,
            "by_lang": by_lang,
            "layers": self.layer_summary(),
        }

    def to_dict(self) -> dict[str, object]:
        return {
            "schema": SCHEMA,
            "candidate": self.candidate,
            "reference": self.reference,
            "placeholder_model": self.placeholder_model,
            "texts_path": self.texts_path,
            "texts_sha256": self.texts_sha256,
            "summary": self.summary(),
            "per_text": [asdict(t) for t in self.texts],
            "kl_per_token": self.kl_per_token,
            "layer_types": self.layer_types,
            **self.extra,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FidelityResult:
        if d.get("schema") != SCHEMA:
            raise ValueError(f"not an {SCHEMA} result (schema {d.get('schema')!r})")
        return cls(
            candidate=d["candidate"],
            reference=d["reference"],
            texts_path=d["texts_path"],
            texts_sha256=d["texts_sha256"],
            texts=[TextResult(**t) for t in d["per_text"]],
            kl_per_token=list(d["kl_per_token"]),
            layer_types=d.get("layer_types"),
            placeholder_model=bool(d.get("placeholder_model")),
        )


def compare_logits(
    candidate: TokenLogits, reference: TokenLogits
) -> tuple[list[float], int, list[float] | None]:
    """Per-token KL(reference ‖ candidate), the number of top-1 agreements, and per-layer
    relative hidden-state errors, over the continuation tokens of one sequence."""
    import torch

    if candidate.token_ids != reference.token_ids or candidate.prompt_len != reference.prompt_len:
        raise UsageError(
            "the two runners tokenize this text differently; a fidelity comparison needs the same "
            "tokenizer and chat template"
        )
    rows = slice(reference.prompt_len - 1, len(reference.token_ids) - 1)
    ref = reference.logits[rows].float()
    cand = candidate.logits[rows].float().to(ref.device)
    if ref.shape != cand.shape:
        raise UsageError(
            f"the runners' vocabularies differ: logits {tuple(cand.shape)} vs {tuple(ref.shape)}"
        )
    logp_ref = torch.log_softmax(ref, dim=-1)
    logp_cand = torch.log_softmax(cand, dim=-1)
    kl = (logp_ref.exp() * (logp_ref - logp_cand)).sum(-1).clamp_min(0.0)  # rounding can dip below 0
    agree = int((ref.argmax(-1) == cand.argmax(-1)).sum())
    hidden: list[float] | None = None
    if (
        candidate.hidden_states
        and reference.hidden_states
        and len(candidate.hidden_states) == len(reference.hidden_states)
    ):
        hidden = []
        for hc, hr in zip(candidate.hidden_states, reference.hidden_states, strict=True):
            r = hr[rows].float()
            c = hc[rows].float().to(r.device)
            err = (c - r).norm(dim=-1) / r.norm(dim=-1).clamp_min(1e-12)
            hidden.append(float(err.mean()))
    return [float(x) for x in kl.cpu()], agree, hidden


def measure_fidelity(
    candidate: Runner,
    reference: Runner,
    texts: Sequence[FidelityText],
    *,
    texts_path: Path = DEFAULT_TEXTS,
    hidden_states: bool = True,
    labels: tuple[dict[str, object], dict[str, object]] | None = None,
    on_text: Callable[[int], None] | None = None,
) -> FidelityResult:
    """Run both runners over every text (non-reasoning rendering) and compare them token by token."""
    params = SamplingParams()  # unused by a forward pass; a request needs one
    results: list[TextResult] = []
    all_kl: list[float] = []
    layer_types: list[str] | None = None
    for i, text in enumerate(texts):
        req = ChatRequest(messages=list(text.messages), params=params, enable_thinking=False)
        ref = reference.next_token_logits(req, text.continuation, hidden_states=hidden_states)
        cand = candidate.next_token_logits(req, text.continuation, hidden_states=hidden_states)
        kl, agree, hidden = compare_logits(cand, ref)
        layer_types = layer_types or ref.layer_types or cand.layer_types
        results.append(
            TextResult(
                id=text.id,
                lang=text.lang,
                kind=text.kind,
                tokens=len(kl),
                kl_sum=float(sum(kl)),
                kl_max=max(kl, default=0.0),
                top1_agree=agree,
                hidden_rel_error=hidden,
            )
        )
        all_kl.extend(kl)
        if on_text:
            on_text(i)
    cand_label, ref_label = labels or ({}, {})
    return FidelityResult(
        candidate={**cand_label, "runner": candidate.describe()},
        reference={**ref_label, "runner": reference.describe()},
        texts_path=str(texts_path),
        texts_sha256=hashlib.sha256(Path(texts_path).read_bytes()).hexdigest(),
        texts=results,
        kl_per_token=all_kl,
        layer_types=layer_types,
        placeholder_model=candidate.is_placeholder_model or reference.is_placeholder_model,
    )


def render_summary(result: FidelityResult, level: float = 0.95) -> str:
    """A few lines for a terminal: KL and top-1 with intervals, by language, by layer kind."""
    s = result.summary(level)
    c, r = result.candidate, result.reference
    pct = round(level * 100)
    lines = [
        f"fidelity: {c.get('model', '?')} ({c.get('runner_profile', '?')}) vs reference "
        f"{r.get('model', '?')} ({r.get('runner_profile', '?')}), {s['texts']} texts, {s['tokens']} tokens",
        f"  KL(reference‖candidate) per token: mean {s['kl']['mean']:.4g} nats "
        f"[{pct}% CI {s['kl']['ci'][0]:.4g}, {s['kl']['ci'][1]:.4g}]; median {s['kl']['median']:.3g}, "
        f"p99 {s['kl']['p99']:.3g}, max {s['kl']['max']:.3g}",
        f"  top-1 agreement: {100 * s['top1_agreement']['value']:.2f}% "
        f"[{pct}% CI {100 * s['top1_agreement']['ci'][0]:.2f}, {100 * s['top1_agreement']['ci'][1]:.2f}]",
        "  by language: "
        + "; ".join(
            f"{k} KL {v['kl_mean']:.3g}, top-1 {100 * v['top1_agreement']:.1f}%"
            for k, v in s["by_lang"].items()
        ),
    ]
    layers = s["layers"]
    if layers:
        kinds = "; ".join(
            f"{k} ({v['layers']} layers) mean {v['mean_rel_error']:.3g}, added per layer "
            f"{v['mean_added_rel_error']:.3g}"
            for k, v in layers["by_type"].items()
        )
        lines.append(f"  hidden-state relative error by layer kind: {kinds}")
        lines.append("  per layer: " + " ".join(f"{x:.3g}" for x in layers["rel_error"]))
    else:
        lines.append("  hidden states: not exposed by both runners (no per-layer figures)")
    if result.placeholder_model:
        lines.append("  [placeholder model: figures describe the tiny random model, not EXAONE 4.0]")
    return "\n".join(lines)
