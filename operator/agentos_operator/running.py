"""Run the operator: reconcile every AgentOSConfig in the watched namespaces until stopped.

Settings come from the environment (AGENTOS_RUNTIME_IMAGE, WATCH_NAMESPACES, AGENTOS_RESYNC_SECONDS,
AGENTOS_LOG_LEVEL, AGENTOS_LOG_FORMAT, AGENTOS_METRICS_PORT, AGENTOS_HEALTH_PORT, ...); flags
override them. Credentials: the pod's service account, else $KUBECONFIG or ~/.kube/config.

High availability: one replica is the default and needs nothing. With several replicas, pass
--leader-election (or AGENTOS_LEADER_ELECTION=true): a replica reconciles only while it holds a
coordination.k8s.io Lease, the others wait on standby (their health endpoint still answers), and
a replica that loses the Lease stops every write and stands by again, so that two replicas never
both write and an API server away for a while costs no restart.

Endpoints: Prometheus metrics on --metrics-port (/metrics), liveness and readiness on
--health-port (/healthz).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import signal
import socket
import sys
import threading
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # heavy imports wait until the operator really runs: `agentos --help` stays fast
    import kopf

    from agentos_operator.kube.auth import Login
    from agentos_operator.kube.leasing import LeaseElector
    from agentos_operator.metrics import Metrics
    from agentos_operator.settings import OperatorSettings

logger = logging.getLogger("agentos_operator")
LEASE_LOST = 1  # what run_kopf returns when it stopped because the Lease was lost
# What a TLS connection reads into: asyncio allocates (and zeroes) 256 KiB per connection, and
# the operator holds one per watch and one per request under way: about 45 (11 MiB) in a cold
# start. A TLS record carries at most 16 KiB, so this still takes two at a time.
TLS_READ_BUFFER = 32 * 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        dest="namespaces",
        metavar="NAMESPACE",
        help="watch this namespace (repeatable; globs like 'team-*' work); overrides WATCH_NAMESPACES",
    )
    scope.add_argument(
        "-A", "--all-namespaces", action="store_true", help="watch every namespace (the default without -n)"
    )
    parser.add_argument("--runtime-image", help="image of resources that name none")
    parser.add_argument("--resync-seconds", type=float, help="how often every resource is reconciled anyway")
    parser.add_argument(
        "--pods-grace-seconds",
        type=float,
        help="how long a rollout may make no progress before its pods are looked at to say why",
    )
    parser.add_argument("--max-concurrent-reconciles", type=int, help="reconciles running at once")
    parser.add_argument("--metrics-port", type=int, help="Prometheus metrics port (0 disables)")
    parser.add_argument("--health-port", type=int, help="liveness/readiness port (0 disables)")
    parser.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.add_argument("--log-format", choices=("text", "json"))
    parser.add_argument(
        "--leader-election",
        action="store_true",
        default=None,
        help="reconcile only while holding a Lease (run several replicas safely)",
    )


def run(args: argparse.Namespace) -> int:
    import pydantic

    try:
        settings = settings_from_args(args)
    except pydantic.ValidationError as error:
        sys.stderr.write(f"agentos operator: invalid settings:\n{error}\n")
        return 2
    forgo_kubernetes_client()
    smaller_tls_read_buffers()
    configure_logging(settings)
    return asyncio.run(operate(settings))


def forgo_kubernetes_client() -> None:
    """Keep kopf from importing the official ``kubernetes`` client, when it is installed.

    kopf imports it only to recognise the client's model objects, which this operator never
    hands it (its own client, ``kube.client``, talks to the API server); importing it costs
    about 20 MB of resident memory. For the operator's own process only, before kopf loads: a
    process that imported kopf already keeps its imports.
    """
    if "kopf" not in sys.modules:
        sys.modules.setdefault("kubernetes", None)  # type: ignore[arg-type]


def smaller_tls_read_buffers() -> None:
    """Each TLS connection of this process reads into ``TLS_READ_BUFFER`` bytes, not asyncio's 256 KiB.

    For the operator's own process only: the size is asyncio's, for every TLS connection of the process.
    """
    import asyncio.sslproto

    asyncio.sslproto.SSLProtocol.max_size = TLS_READ_BUFFER


def settings_from_args(args: argparse.Namespace) -> OperatorSettings:
    """The environment's settings with the flags given on the command line on top."""
    from agentos_operator.settings import OperatorSettings

    fields = (
        "runtime_image",
        "resync_seconds",
        "pods_grace_seconds",
        "max_concurrent_reconciles",
        "metrics_port",
        "health_port",
        "log_level",
        "log_format",
    )
    overrides: dict[str, Any] = {field: getattr(args, field) for field in fields if getattr(args, field) is not None}
    if args.leader_election:
        overrides["leader_election"] = True
    if args.namespaces:
        overrides["namespaces"] = tuple(args.namespaces)
    elif args.all_namespaces:
        overrides["namespaces"] = ()
    return OperatorSettings(**overrides)


class RetriedRequests(logging.Filter):
    """kopf's own API requests log each failed attempt at ERROR, also those it retries (an API
    server restarting, a connection it re-opens): those become WARNINGs, so an alert on ERROR
    lines fires for a request that finally failed ("escalating"), not for every blip."""

    RETRIED = ("failed; will retry", "; will re-authenticate")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and record.getMessage().startswith("Request attempt "):
            if any(marker in record.getMessage() for marker in self.RETRIED):
                record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        return True


def configure_logging(settings: OperatorSettings) -> None:
    import kopf

    log_format = kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.FULL
    kopf.configure(debug=settings.log_level == "DEBUG", log_format=log_format)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RetriedRequests())
    logging.getLogger().setLevel(settings.log_level)
    if settings.log_level != "DEBUG":
        # kopf logs each handler call of each watch event ("Handler 'x' succeeded."): thousands
        # of lines at start with many resources, none saying what the reconciler's lines do not.
        logging.getLogger("kopf.objects").setLevel(max(logging.WARNING, logging.getLevelName(settings.log_level)))


async def operate(
    settings: OperatorSettings,
    *,
    login: Login | None = None,
    stop_flag: threading.Event | None = None,
    metrics: Metrics | None = None,
) -> int:
    """Run until ``stop_flag`` is set (or a signal arrives), then 0.

    With leader election, reconcile only while holding the Lease: a replica that loses it stops
    every write and stands by until it holds it again.
    """
    from agentos_operator import handlers, watching
    from agentos_operator.kube.auth import login_from_environment
    from agentos_operator.kube.client import ApiClient, ApiError
    from agentos_operator.metrics import Metrics

    # The first line, said by every replica, one on standby too: a resource in a namespace not
    # served gets no status and no event, so this is where to look.
    logger.info(watching.describe_scope(settings))
    login_fn: Login = login or login_from_environment
    metrics = metrics or Metrics()
    stop_flag = stop_flag or threading.Event()
    kopf_config = handlers.kopf_settings(settings)
    stop_metrics = metrics.serve(settings.metrics_port) if settings.metrics_port else None
    api: ApiClient | None = None
    elector: LeaseElector | None = None
    try:
        if settings.leader_election:
            credentials = functools.partial(login_fn, settings=kopf_config, logger=logger)
            # The elector's own client: its requests must end well within the renew deadline.
            api = ApiClient(credentials, timeout=settings.lease_request_timeout_seconds, on_error=metrics.api_error)
            elector = build_elector(settings, api, namespace=credentials().default_namespace)
            # The claims (``settings.identity``) name the Lease held, wherever it was put.
            settings = settings.model_copy(update={"lease_namespace": elector.namespace})
        while True:
            if elector is not None:
                stop_on_signals(stop_flag)
                async with standby_health(settings.health_port):
                    if not await elector.acquire(stopped=stop_flag.is_set, retry_seconds=settings.lease_retry_seconds):
                        return 0
            # kopf stops on its own flag: set when the Lease is lost, or when this process stops.
            run_flag = threading.Event()
            forwarding = asyncio.create_task(forward_flag(stop_flag, run_flag))
            try:
                code = await run_kopf(
                    settings, kopf_config, login=login_fn, metrics=metrics, stop_flag=run_flag, elector=elector
                )
            finally:
                forwarding.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await forwarding
            if code != LEASE_LOST or stop_flag.is_set():
                return code
            # Every write stopped with kopf. A replica that lost the Lease (another took it, or the
            # API server was away past the renew deadline) stands by again rather than exit.
            logger.warning("lost the Lease: standing by until it can be held again")
    finally:
        if elector is not None:
            try:
                await elector.release()
            except ApiError as error:
                logger.warning("could not release the Lease: %s", error)
        if api is not None:
            await api.close()
        if stop_metrics is not None:
            stop_metrics()


async def forward_flag(source: threading.Event, target: threading.Event) -> None:
    """Set ``target`` once ``source`` is set (until cancelled): the process's stop stops this run."""
    while not source.is_set():
        await asyncio.sleep(0.1)
    target.set()


def stop_on_signals(stop_flag: threading.Event) -> None:
    """SIGTERM/SIGINT set ``stop_flag`` while on standby (kopf takes the signals while it runs)."""
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_flag.set)


def build_elector(settings: OperatorSettings, api: Any, *, namespace: str | None) -> LeaseElector:
    from agentos_operator.kube.leasing import LeaseElector
    from agentos_operator.ownership import watched_namespaces_annotation

    # Unique per process: a restarted pod keeps its name but must not inherit the old lease.
    identity = f"{settings.pod_name or socket.gethostname()}_{uuid.uuid4().hex[:8]}"
    return LeaseElector(
        api,
        namespace=settings.lease_namespace or namespace or "default",
        name=settings.lease_name,
        identity=identity,
        duration=settings.lease_duration_seconds,
        field_manager=settings.field_manager,
        logger=logger,
        # Says what this instance watches, so that another takes over its claims elsewhere.
        annotations=watched_namespaces_annotation(settings.namespaces),
    )


async def run_kopf(
    settings: OperatorSettings,
    kopf_config: kopf.OperatorSettings,
    *,
    login: Login,
    metrics: Metrics,
    stop_flag: threading.Event,
    elector: LeaseElector | None,
) -> int:
    import kopf

    from agentos_operator import handlers

    registry = handlers.build_registry(settings, login=login, metrics=metrics)
    holding = (
        asyncio.create_task(elector.hold(retry_seconds=settings.lease_retry_seconds)) if elector is not None else None
    )
    if holding is not None:
        holding.add_done_callback(lambda _: stop_flag.set())  # no Lease, no writes: stop kopf
    liveness = f"http://0.0.0.0:{settings.health_port}/healthz" if settings.health_port else None
    metrics.start_reconciling()
    try:
        await kopf.operator(
            registry=registry,
            settings=kopf_config,
            clusterwide=settings.cluster_wide or settings.namespace_patterns,
            # A pattern is served cluster-wide and filtered (watching.scope_of).
            namespaces=[] if settings.namespace_patterns else list(settings.namespaces),
            standalone=True,  # no kopf peering: --leader-election is the HA mechanism
            liveness_endpoint=liveness,
            stop_flag=stop_flag,
            memo=kopf.Memo(stop_flag=stop_flag),
        )
    finally:
        metrics.stop_reconciling()
        stop_flag.set()  # kopf waits on the flag in a thread: release it, or the loop's shutdown waits forever
        if holding is not None and not holding.done():
            holding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await holding
    if holding is not None and not holding.cancelled() and holding.exception() is not None:
        logger.error("stopped reconciling: %s", holding.exception())
        return LEASE_LOST
    return 0


@contextlib.asynccontextmanager
async def standby_health(port: int) -> AsyncIterator[None]:
    """Answer /healthz while waiting for the Lease, so a standby replica is not restarted as dead."""
    if not port:
        yield
        return
    from aiohttp import web

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "standby"})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()
    try:
        yield
    finally:
        await runner.cleanup()
