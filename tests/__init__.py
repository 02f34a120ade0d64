"""The kube-agentos test suite."""
