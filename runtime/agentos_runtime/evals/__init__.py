"""Evaluations of agents and teams, stored as Agno's eval runs (``agno_eval_runs``).

``running.run_eval(spec, target=..., store=...)`` runs one evaluation and stores it:
``accuracy`` (``accuracy``: the target answers ``input`` and a judge model scores the answer
against ``expected_output`` from 1 to 10) or ``performance`` (``performance``: the latency and
peak memory of repeated runs). Every failure is an ``EvalFailed`` carrying its HTTP status.
"""
