"""Run the AgentOS runtime server: `agentos serve --config FILE`.

The config is loaded and checked (every problem printed with its path) before anything
listens, so a bad config exits non-zero with the port still free. Then the databases open,
and uvicorn serves until SIGTERM or Ctrl-C, letting in-flight runs finish on the way out.

Environment: AGENT_OS_HOST / AGENT_OS_PORT (defaults 127.0.0.1:7777), AGENTOS_DATA_DIR
(default ./data), OS_SECURITY_KEY or JWT_VERIFICATION_KEY / JWT_JWKS_FILE, AGENTOS_CORS_ORIGINS,
AGENTOS_LOG_LEVEL, AGENTOS_LOG_FORMAT (text or json), AGENTOS_METRICS_PORT (Prometheus metrics
at /metrics on that port, default 9464; 0 turns them off), AGENTOS_RUN_GRACE_SECONDS (how long
runs may finish after SIGTERM, default 15).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import socket
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentos_runtime.config import RuntimeConfig

logger = logging.getLogger(__name__)

EXIT_CONFIG = 2
EXIT_STARTUP = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a process Ctrl-C stopped

# After SIGTERM, runs may finish for ``Settings.run_grace_seconds``; those still going are then
# cancelled, and their requests get these seconds more to record them and close their streams
# before uvicorn cancels what is left. Then the app waits for detached saves (``DRAIN_SECONDS``).
STREAM_CLOSE_SECONDS = 5.0
# How long an idle client connection stays open: longer than clients keep theirs (httpx 5 s,
# aiohttp 15 s) and than load balancers' idle timeouts (60 s), so the client or the balancer
# always lets go first. At uvicorn's 5 s a client's next request could be sent on a connection
# in the instant the server closed it, and fail.
KEEP_ALIVE_SECONDS = 75


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="FILE", help="runtime config file (YAML)")
    parser.add_argument("--host", help="address to listen on (default: AGENT_OS_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default: AGENT_OS_PORT or 7777)")
    parser.add_argument("--data-dir", metavar="DIR", help="embedded database directory (default: ./data)")


def run(args: argparse.Namespace) -> int:
    # Start-up allocates hundreds of thousands of objects (FastAPI, pydantic models, routes) that
    # live as long as the process: collecting while they are made only walks them again and
    # again (~10% of a cold start). Collection resumes once they are frozen, before serving.
    gc.disable()
    try:
        return _run(args)
    finally:
        gc.enable()


def _run(args: argparse.Namespace) -> int:
    import pydantic

    from agentos_runtime.config import ConfigError
    from agentos_runtime.observability.logs import configure_logging, database_urls, secret_values
    from agentos_runtime.settings import Settings
    from agentos_runtime.storage.early import EarlySchemas

    try:
        config = load_runtime_config(args.config)
    except ConfigError as error:
        _report(f"agentos serve: {args.config} has {len(error.problems)} problem(s):", [str(p) for p in error.problems])
        return EXIT_CONFIG
    overrides: dict[str, Any] = {"host": args.host, "port": args.port, "data_dir": args.data_dir}
    try:
        settings = Settings.from_environ(os.environ, **{k: v for k, v in overrides.items() if v is not None})
    except pydantic.ValidationError as error:
        lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors(include_url=False)]
        _report("agentos serve: invalid settings:", lines)
        return EXIT_CONFIG
    unusable = host_problem(settings.host)
    if unusable is not None:
        _report("agentos serve: cannot start:", [unusable])
        return EXIT_CONFIG
    from agentos_runtime.storage.sharing import shared_stores

    shared = shared_stores(config.databases, os.environ, settings.data_dir)
    if shared:
        _report("agentos serve: cannot start:", shared)
        return EXIT_CONFIG
    configure_logging(
        settings.log_level,
        settings.log_format,
        secrets=secret_values(settings, config, os.environ),
        locations=database_urls(config, os.environ),
    )
    # PostgreSQL's tables are checked in a thread while the API's modules import below.
    early = EarlySchemas.start(config.databases, os.environ)

    from agentos_runtime.api.assembly import Connectors
    from agentos_runtime.api.jwt_keys import KeySetupError
    from agentos_runtime.app import create_app
    from agentos_runtime.storage.factory import open_database

    connectors = Connectors(environ=dict(os.environ), open_database=partial(open_database, early=early))
    try:
        # The OpenAI SDK and the model clients, loaded after start-up, live as long as the
        # process too: frozen like the start-up's objects (``_serve``) once they are built.
        app = create_app(settings, config, os_id=Path(args.config).stem, connectors=connectors, after_warm_up=gc.freeze)
    except KeySetupError as error:
        _report("agentos serve: cannot start:", [str(error)])
        return EXIT_CONFIG
    from agentos_runtime.api.assembly import database_configs
    from agentos_runtime.observability.startup import log_startup

    databases = database_configs(config, settings.data_dir)
    mode = app.state.access_policy.mode
    log_startup(args.config, config, databases, os.environ, data_dir=settings.data_dir, auth_mode=mode)
    return _serve(app, settings)


def _server_ending_runs(app: Any, grace: float, config: Any) -> Any:
    """uvicorn's server, which cancels the runs still going ``grace`` seconds into its shutdown.

    Runs going on in the background (no request waits for them) are waited for as long, too.
    uvicorn itself would cancel their requests when its graceful window ends: the client's stream
    broke off without a terminal event and uvicorn logged the cancellation as an exception in the
    application. Cancelled as a run, each is recorded CANCELLED and its stream ends with
    ``RunCancelled`` (a non-streamed run answers with its partial content), within the window.
    """
    import uvicorn

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            loop = asyncio.get_running_loop()
            # Runs going on in the background hold no connection, so uvicorn does not wait for
            # them: the application's shutdown does, until then (``app.state.stop_deadline``).
            app.state.stop_deadline = loop.time() + grace + STREAM_CLOSE_SECONDS
            timer = loop.call_later(grace, _end_runs, app, grace)
            try:
                await super().shutdown(sockets=sockets)
            finally:
                timer.cancel()

    return Server(config)


def _end_runs(app: Any, grace: float) -> None:
    context = getattr(app.state, "context", None)
    ended = context.runs.cancel_all() if context is not None else 0
    if ended:
        logger.warning("stopping: cancelled %d run(s) still going %.0f s after the stop signal", ended, grace)


def _serve(app: Any, settings: Any) -> int:
    import uvicorn

    # uvicorn keeps its hands off logging (in either format), so its lines go through our handler
    # too: secrets redacted, and held to a few a minute (a client sending garbage makes one
    # "Invalid HTTP request" line per connection; with uvicorn's own handler, without end).
    server = _server_ending_runs(
        app,
        settings.run_grace_seconds,
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=settings.run_grace_seconds + STREAM_CLOSE_SECONDS,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            log_config=None,
        ),
    )
    # uvicorn re-raises the signal that stopped it once it has shut down gracefully; by then
    # everything is closed, so SIGTERM (how Kubernetes stops a pod) ends with status 0.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    metrics_server = None
    if app.state.telemetry is not None:
        from agentos_runtime.observability.exporting import serve_metrics

        metrics_server = serve_metrics(app.state.telemetry, host=settings.host, port=settings.metrics_port)
    # Everything loaded so far lives as long as the process: keep the collector from walking it
    # again in every full collection (those otherwise pause a request for tens of ms).
    gc.freeze()
    gc.enable()
    try:
        server.run()
    except KeyboardInterrupt:
        # Ctrl-C: uvicorn re-raises SIGINT once it has shut down gracefully; the shell's status
        # for a process it interrupted, and no traceback.
        return EXIT_INTERRUPTED
    finally:
        if metrics_server is not None:
            metrics_server.stop()
    return 0 if server.started else EXIT_STARTUP


def host_problem(host: str) -> str | None:
    """Why the server cannot listen on ``host`` (it names no address), or ``None``.

    Said before anything starts, naming the setting: otherwise the metrics server warned about
    its port and uvicorn ended with a bare ``[Errno -2] Name or service not known``.
    """
    import socket

    if not host:  # every interface, as asyncio reads an empty host
        return None
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as error:
        reason = error.strerror if isinstance(error, socket.gaierror) else str(error)
        return (
            f"AGENT_OS_HOST (or --host) {host!r} names no address to listen on ({reason}):"
            " use 0.0.0.0 (every interface), 127.0.0.1 or an address of this machine"
        )
    return None


def _report(headline: str, lines: list[str]) -> None:
    sys.stderr.write(headline + "\n")
    for line in lines:
        sys.stderr.write(f"  {line}\n")


def load_runtime_config(path: str | Path) -> RuntimeConfig:
    """``load_config`` plus the checks only building the components makes, reported together.

    Raises ``ConfigError`` listing every problem at once: those of the schema, of references
    and of tools, including those the first ones hide (``config.checking.every_problem``).
    """
    from agentos_runtime.config import ConfigError, parse_config
    from agentos_runtime.config.checking import every_problem
    from agentos_runtime.config.loading import read_config_file
    from agentos_runtime.config_checks import check_components, runtime_config_problems

    data = read_config_file(path)  # unreadable, not UTF-8, bad or hostile YAML: one problem
    if isinstance(data, dict) and {"apiVersion", "kind"} <= data.keys() and isinstance(data.get("spec"), dict):
        from agentos_runtime.config import Problem

        raise ConfigError(
            [
                Problem(
                    (),
                    f"this is a Kubernetes {data.get('kind')!s:.60} resource, not a runtime config: the operator "
                    "serves it; to run it here, take config.yaml from what `agentos render` prints (its ConfigMap)",
                )
            ]
        )
    try:
        config = parse_config(data)
    except ConfigError as error:
        raise ConfigError(every_problem(data, runtime_config_problems) or error.problems) from error
    problems = check_components(config)
    if problems:
        raise ConfigError(problems)
    return config
