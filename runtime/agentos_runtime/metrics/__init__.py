"""Daily metrics: runs, sessions, users, tokens and models per day, computed from stored sessions.

``refreshing.refresh_metrics(store, now=...)`` recomputes the days not yet final and stores one
row per owner and day (Agno's ``agno_metrics`` rows); ``aggregating.totals_by_day`` folds those
rows into the one-per-day totals ``GET /metrics`` shows. ``refreshing.RefreshTracker`` keeps each
database's refresh status and throttles the lazy refresh done on reads.
"""
