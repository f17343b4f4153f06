"""Task families: how a kind of benchmark turns rows into samples and answers into verdicts.

A family module provides `build_sample(row, spec, where) -> Sample` and
`score(sample, split, spec) -> Verdict`; the YAML spec names the family.
"""
