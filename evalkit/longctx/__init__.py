"""Long-context benchmarks: the RULER generator, LongBench / HELMET / Ko-LongBench loaders and
metrics, and token-level truncation that fits a prompt into a model's context.

Everything that sizes text does it with the evaluated model's own tokenizer
(`evalkit.longctx.tokens`), because a "4K" or "128K" prompt only means something in the
model's tokens.
"""
