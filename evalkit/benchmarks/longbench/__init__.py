"""LongBench v1 (THUDM/LongBench): per-task prompts and output lengths, metrics, averaging."""
