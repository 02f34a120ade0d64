"""The kube-agentos operator: turns ``AgentOSConfig`` resources into running AgentOS servers."""

__version__ = "0.1.0"

GROUP = "agentos.dev"
VERSION = "v1alpha1"
KIND = "AgentOSConfig"
PLURAL = "agentosconfigs"
SINGULAR = "agentosconfig"
SHORT_NAMES = ("aos", "agentos")
