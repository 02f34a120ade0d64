"""Evaluations of agents and teams, stored as Agno's eval runs (``agno_eval_runs``).

``running.evaluate(spec, target=...)`` runs one evaluation, the eval run to store:
``accuracy`` (the target answers ``input`` and a judge model scores the answer against
``expected_output`` from 1 to 10), ``agent_as_judge`` (a judge holds one answer to
``criteria``), ``reliability`` (the tool calls of one run against the expected ones) or
``performance`` (the latency and peak memory of repeated runs). The decisions (verdicts,
statistics, tool checks) are pure functions in ``judging``, ``reliability`` and
``performance.summarise``. Every failure is an ``EvalFailed`` carrying its HTTP status.
``slots.EvalSlots`` bounds the evals a replica runs at once (``AGENTOS_MAX_EVAL_RUNS``).
"""
