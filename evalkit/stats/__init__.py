"""Statistics of benchmark scores. One module per kind of estimate; the names below are public.

- rates: THE intervals reports and gates use — a score in [0, 1] (`rate_interval`) and a
  paired difference (`paired_rate_interval`); they hold at 0 % and 100 % and with few items
- estimates: pass@1[avg-of-n] with the item-clustered standard error
- intervals: the Interval record, normal (clustered SE) and exact Clopper-Pearson intervals
- bootstrap: cluster bootstrap over items (means and token-weighted ratios)
- paired: two runs paired on (id, repeat): paired bootstrap, exact McNemar, Tango score interval
- sequential: anytime-valid confidence sequences, for gates that stop sampling early
- passk: unbiased pass@k and majority vote (maj@n) over repeated samples
"""

from evalkit.stats.bootstrap import bootstrap_ratio_interval, cluster_bootstrap_interval
from evalkit.stats.estimates import Z95, Estimate, clustered_mean
from evalkit.stats.intervals import (
    Interval,
    clopper_pearson,
    items_to_resolve,
    normal_interval,
    two_sided_level,
)
from evalkit.stats.paired import (
    McNemarResult,
    PairedItems,
    mcnemar_exact,
    pair_records,
    paired_bootstrap_interval,
    score_paired_interval,
)
from evalkit.stats.passk import (
    default_ks,
    majority_estimate,
    majority_vote,
    pass_at_k,
    pass_at_k_estimate,
)
from evalkit.stats.rates import paired_rate_interval, rate_interval, ratio_rate_interval, score_interval
from evalkit.stats.sequential import SequenceBounds, confidence_sequence, sequence_bounds

__all__ = [
    "Z95",
    "Estimate",
    "Interval",
    "McNemarResult",
    "PairedItems",
    "SequenceBounds",
    "bootstrap_ratio_interval",
    "clopper_pearson",
    "cluster_bootstrap_interval",
    "clustered_mean",
    "confidence_sequence",
    "default_ks",
    "items_to_resolve",
    "majority_estimate",
    "majority_vote",
    "mcnemar_exact",
    "normal_interval",
    "pair_records",
    "paired_bootstrap_interval",
    "paired_rate_interval",
    "pass_at_k",
    "pass_at_k_estimate",
    "rate_interval",
    "ratio_rate_interval",
    "score_interval",
    "score_paired_interval",
    "sequence_bounds",
    "two_sided_level",
]
