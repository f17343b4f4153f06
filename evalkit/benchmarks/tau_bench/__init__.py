"""Agent environments: tau-bench (v1) airline and retail, with tools as functions over a database."""
