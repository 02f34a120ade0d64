"""Runs: the agent loop, prompts, tool execution and run events."""
