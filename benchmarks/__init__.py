"""Benchmarks of the runtime and the operator (not tests: figures live in benchmarks/README.md)."""
