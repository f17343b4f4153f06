"""Coverage of the 95 % intervals of `evalkit.stats.rates` over the grid of issue 17.

    python bench/interval_coverage.py [--runs 2000] [--paired-runs 1000] [--kappa 2]

True rates 0.01, 0.05, 0.5, 0.95, 0.99 x items 2, 5, 30, 198, 1000 x repeats 1, 8, 32, items
of spread difficulty (tests/stats/coverage_grid.py says how runs are simulated). Prints, per
cell, the share of simulated runs whose interval holds the true value, the mean width (in
points) and any zero-width interval; then the smallest coverage of each table. The target:
>= 93 % in every cell, no zero-width interval. `pytest -m slow tests/stats/test_coverage.py`
asserts it; a few cells run in `make test`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.stats.coverage_grid import ITEMS, RATES, REPEATS, measured_cell, paired_cell


def _table(name: str, cell_fn, runs: int, **kw) -> None:
    print(f"\n{name} ({runs} runs per cell): coverage % / mean width in points")
    print("rate  | " + " | ".join(f"{i} items x {r}" for i in ITEMS for r in REPEATS))
    worst, zeros, t0 = None, 0, time.perf_counter()
    for mu in RATES:
        cells = [cell_fn(mu, i, r, runs, seed=1000 * i + r, **kw) for i in ITEMS for r in REPEATS]
        zeros += sum(c.zero_width for c in cells)
        print(f"{mu:<5} | " + " | ".join(f"{100 * c.coverage:.1f}/{100 * c.mean_width:.1f}" for c in cells))
        for c in cells:
            if worst is None or c.coverage < worst.coverage:
                worst = c
        sys.stdout.flush()
    assert worst is not None
    print(
        f"smallest coverage {100 * worst.coverage:.1f} % (rate {worst.mu}, {worst.items} items x "
        f"{worst.repeats}); zero-width intervals: {zeros}; {time.perf_counter() - t0:.0f} s"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--paired-runs", type=int, default=1000)
    ap.add_argument("--kappa", type=float, default=2.0, help="difficulty spread: Beta(mu k, (1-mu) k)")
    args = ap.parse_args()
    _table("rate_interval (a run's score)", measured_cell, args.runs, kappa=args.kappa)
    for shared in (0.7, 1.0):
        _table(
            f"paired_rate_interval (candidate - reference; shared random numbers {shared})",
            paired_cell,
            args.paired_runs,
            kappa=args.kappa,
            shared=shared,
        )


if __name__ == "__main__":
    main()
