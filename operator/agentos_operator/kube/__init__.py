"""Talking to the Kubernetes API: the client, and the operations the reconciler performs with it.

Everything that does I/O against the API server lives in this package; the decisions it acts
on (drift, conditions, status) are pure modules one level up.
"""
