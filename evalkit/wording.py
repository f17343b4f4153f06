"""How messages name things: counts with the right plural, and options as the user typed them.

`make eval` sets EVALKIT_INTERFACE=make, so an error says `DATA=/path` to someone who used
make and `--data /path` to someone who called `evalkit run` directly.
"""

from __future__ import annotations

import os

# CLI option (without the dashes) -> the make variable that sets it.
MAKE_VARIABLES = {
    "data": "DATA",
    "model": "MODEL",
    "runner": "RUNNER",
    "mode": "MODE",
    "limit": "LIMIT",
    "n": "N",
    "max-new-tokens": "MAX_NEW_TOKENS",
    "seed": "SEED",
    "run-id": "RUN_ID",
    "judge": "JUDGE",
    "judge-model": "JUDGE_MODEL",
    "user-sim": "USER_SIM",
    "user-sim-model": "USER_SIM_MODEL",
    "runner-arg": "RUNNER_ARGS",
    "allow-errors": "ALLOW_ERRORS",
    "modes": "MODES",  # evalkit card
    "skip-missing": "SKIP_MISSING",
    "gate": "GATE",
    "gpus": "GPUS",
    "dp": "DP",
}
# Options that take no value: set with VAR=1 under make.
MAKE_FLAGS = {"allow-errors", "skip-missing"}
# The CLI option that supplies each auxiliary role's runner.
ROLE_OPTIONS = {"user": "user-sim", "judge": "judge"}


def via_make() -> bool:
    return os.environ.get("EVALKIT_INTERFACE", "").strip().lower() == "make"


def option(name: str, value: str | None = None) -> str:
    """`--data /path` for the CLI, `DATA=/path` under make (`name` is the CLI option, no dashes)."""
    var = MAKE_VARIABLES.get(name)
    if via_make() and var:
        if name in MAKE_FLAGS:
            return f"{var}=1"
        if name == "runner-arg" and value:
            return f'{var}="{value}"'
        return f"{var}={value or ''}" if value else f"{var}="
    return f"--{name} {value}" if value else f"--{name}"


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 category', '3 categories', '2 items'."""
    if n == 1:
        return f"{n} {word}"
    if many is None:
        if word.endswith("y") and word[-2:-1] not in tuple("aeiou"):
            many = word[:-1] + "ies"
        elif word.endswith(("s", "x", "ch", "sh")):
            many = word + "es"
        else:
            many = word + "s"
    return f"{n} {many}"


def role_hint(role: str) -> str:
    """How to give a runner for `role` ("; give one with --judge PROFILE ..."), or "" if no option does."""
    name = ROLE_OPTIONS.get(role)
    return f"; give one with {option(name, 'PROFILE')} (e.g. openai; see runners/)" if name else ""
