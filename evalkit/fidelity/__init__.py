"""`evalkit fidelity`: how closely one runner's next-token distributions follow another's.

Public names: `measure_fidelity` (run both runners over a text set), `FidelityResult`
(with intervals and a per-layer summary), `load_texts` / `DEFAULT_TEXTS` (the fixed text
set), `render_summary` (a terminal summary). Importing this package does not import torch.
"""

from evalkit.fidelity.measure import (
    SCHEMA,
    FidelityResult,
    TextResult,
    compare_logits,
    measure_fidelity,
    render_summary,
)
from evalkit.fidelity.texts import DEFAULT_TEXTS, FidelityText, load_texts

__all__ = [
    "DEFAULT_TEXTS",
    "SCHEMA",
    "FidelityResult",
    "FidelityText",
    "TextResult",
    "compare_logits",
    "load_texts",
    "measure_fidelity",
    "render_summary",
]
