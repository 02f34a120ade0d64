"""Operator benchmark: the real operator process against the test API server emulator, at 1000 resources."""
