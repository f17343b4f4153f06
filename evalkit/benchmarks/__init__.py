"""Support code of single benchmarks: one package per task family that needs more than its hooks.

`evalkit/families/<name>.py` holds a family's hooks (build, solve, score, aggregate);
`evalkit/benchmarks/<name>/` beside it holds what only that benchmark uses (BFCL's checkers and
simulated APIs, tau-bench's environments, LiveCodeBench's sandboxed driver, IFEval's instruction
checks, the long-context generators and metrics). Pieces several families share stay in the core:
`evalkit.toolcalls` (tool-call parsing), `evalkit.kv_planning` (batch planning from the KV
budget), `evalkit.longctx` (prompt sizing in the model's tokens), `evalkit.scoring`.
"""
