"""BFCL's multi-turn categories: simulated APIs (apis/), their function docs (func_doc/), running
calls against them (world.py), and the episode runner and checker (episode.py)."""
