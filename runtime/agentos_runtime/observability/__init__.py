"""Operability: Prometheus metrics on their own port, JSON logs.

``runtime_metrics.RuntimeMetrics`` holds the runtime's counters and histograms; the HTTP
middleware (``http``), the storage wrapper (``storage``) and the run observation feed it, and
``exporting`` serves it. ``logs`` configures text or JSON logging with secrets redacted.
"""
