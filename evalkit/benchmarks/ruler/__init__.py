"""RULER (NVIDIA/RULER): the 13 synthetic long-context tasks, generated here from the source
corpora with the evaluated model's tokenizer, and scored by string match."""
