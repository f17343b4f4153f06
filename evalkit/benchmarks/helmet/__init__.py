"""HELMET (Yen et al. 2025; princeton-nlp/HELMET @4526dfb): the datasets of its 128K configs,
their release files, prompts and metrics, read from the unpacked HF `princeton-nlp/HELMET`
data.tar.gz (see docs/long-context.md)."""
