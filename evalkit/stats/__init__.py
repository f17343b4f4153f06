"""Statistics of benchmark scores. One module per kind of estimate; the names below are public."""

from evalkit.stats.estimates import Z95, Estimate, clustered_mean

__all__ = ["Z95", "Estimate", "clustered_mean"]
