"""Scoring: answer extractors and per-sample verdicts, shared by task families."""
