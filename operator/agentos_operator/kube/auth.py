"""Where the operator's API credentials come from: the pod's service account, else a kubeconfig.

kopf would otherwise log in through the official ``kubernetes`` package when it is installed,
importing all of it; kopf's own light readers of the same two sources are enough here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kopf

Login = Callable[..., kopf.ConnectionInfo]
"""A kopf login function: called with kopf's keyword arguments (``settings``, ``logger``...)."""


def login_from_environment(*, settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo:
    """The in-cluster service account when mounted, else ``$KUBECONFIG`` or ``~/.kube/config``."""
    info = kopf.login_with_service_account(settings=settings) or kopf.login_with_kubeconfig(settings=settings)
    if info is None:
        raise kopf.LoginError("no Kubernetes credentials: no service account token is mounted and no kubeconfig exists")
    return info
