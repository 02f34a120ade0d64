{{/* Names and labels shared by every template. */}}

{{- define "agentos-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "agentos-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/*
The metrics Service's name: a DNS-1035 label (at most 63 characters, a letter first, no dots), so the
full name is cut to leave room for `-metrics`.
*/}}
{{- define "agentos-operator.metricsServiceName" -}}
{{- $name := printf "%s-metrics" (include "agentos-operator.fullname" . | trunc 55 | trimSuffix "-") -}}
{{- if not (regexMatch "^[a-z]([-a-z0-9]*[a-z0-9])?$" $name) -}}
{{- fail (printf "the metrics Service would be named %q, which is no DNS-1035 label (a letter first, then letters, digits and dashes, no dots): install under a release name that starts with a letter and holds no dots, or set metrics.enabled=false" $name) -}}
{{- end -}}
{{- $name -}}
{{- end -}}

{{/*
The name of an object of this release outside the release namespace (ClusterRoles,
ClusterRoleBindings, the Roles and RoleBindings of watched namespaces): the full name and the
release namespace, so two releases of one name in two namespaces do not collide.
*/}}
{{- define "agentos-operator.outsideName" -}}
{{- printf "%s-%s" (include "agentos-operator.fullname" .) .Release.Namespace -}}
{{- end -}}

{{- define "agentos-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agentos-operator.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end -}}

{{- define "agentos-operator.labels" -}}
{{ include "agentos-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
app.kubernetes.io/part-of: kube-agentos
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | quote }}
{{- end -}}

{{/*
The operator's ServiceAccount. One the chart does not create must be named: falling back to the
namespace's `default` would bind the operator's roles to every pod that runs as `default` there.
*/}}
{{- define "agentos-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "agentos-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else if .Values.serviceAccount.name -}}
{{- .Values.serviceAccount.name -}}
{{- else if .Values.rbac.create -}}
{{- fail (printf "serviceAccount.create=false and serviceAccount.name is empty: rbac.create would bind the operator's roles to the %q namespace's \"default\" ServiceAccount, which every pod there runs as by default; set serviceAccount.name to the ServiceAccount the operator runs as (or serviceAccount.create=true)" .Release.Namespace) -}}
{{- else -}}
default
{{- end -}}
{{- end -}}

{{/* An image reference: `repository:tag`, or `repository@sha256:...` when the tag is a digest; the appVersion when no tag. */}}
{{- define "agentos-operator.imageRef" -}}
{{- $tag := default .appVersion .image.tag -}}
{{- printf "%s%s%s" .image.repository (ternary "@" ":" (hasPrefix "sha256:" $tag)) $tag -}}
{{- end -}}

{{- define "agentos-operator.image" -}}
{{- include "agentos-operator.imageRef" (dict "image" .Values.image "appVersion" .Chart.AppVersion) -}}
{{- end -}}

{{- define "agentos-operator.runtimeImage" -}}
{{- include "agentos-operator.imageRef" (dict "image" .Values.runtimeImage "appVersion" .Chart.AppVersion) -}}
{{- end -}}

{{/* The namespaced-mode flag: true when rbac.namespaces lists namespaces. */}}
{{- define "agentos-operator.namespaced" -}}
{{- if .Values.rbac.namespaces -}}true{{- end -}}
{{- end -}}

{{/* Whether the operator watches Secrets: always when namespaced, else as rbac.clusterWideSecretWatch says. */}}
{{- define "agentos-operator.watchSecrets" -}}
{{- if or (include "agentos-operator.namespaced" .) .Values.rbac.clusterWideSecretWatch -}}true{{- end -}}
{{- end -}}

{{/* Whether the replicas elect a leader: always, so that only the Lease holder ever writes. One
replica too: a rolling update (maxSurge 1, maxUnavailable 0) runs the new pod beside the old one,
and two versions rendering differently (a new runtimeImage.tag) would rewrite every child in turn. */}}
{{- define "agentos-operator.leaderElection" -}}
true
{{- end -}}

{{/* The Lease the replicas elect a leader with, in the release namespace: one per release. */}}
{{- define "agentos-operator.leaseName" -}}
{{- include "agentos-operator.fullname" . -}}
{{- end -}}

{{/*
Exactly what the operator does in each namespace it watches, no more:
- AgentOSConfigs: listed and watched (kopf, and the resync's audit); the status subresource is
  patched; `update` on `agentosconfigs/finalizers` is what the OwnerReferencesPermissionEnforcement
  admission plugin asks of whoever sets `blockOwnerDeletion: true` on a child's owner reference,
  as the operator does. It never writes the resource itself.
- Children: created and patched through server-side apply (a dry run first: the same verbs),
  deleted when pruned; never `update` or `deletecollection`. PersistentVolumeClaims are never
  pruned (they hold data, and go with their owner through garbage collection): no `delete`.
  PodMonitors (`spec.prometheus.podMonitor`) are granted whether or not the Prometheus
  Operator's CRDs are installed: without them, their watch waits quietly.
- Events: created, one per decision (core `v1` Events; never patched).
- ConfigMaps knowledge sources mount: read (`get`), and every ConfigMap listed and watched by
  metadata, so that creating, editing or deleting one reconciles the resources mounting it.
- Pods: listed by a resource's label selector, only while its rollout is stuck, to say in its
  status why they are not ready; never watched, never written.
`get` stands beside every `list`: it reveals nothing `list` does not, and the store reads one
object when its watch has not delivered it yet. Secrets are granted apart (`secretRules`).
*/}}
{{- define "agentos-operator.namespacedRules" -}}
- apiGroups: ["agentos.dev"]
  resources: ["agentosconfigs"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["agentos.dev"]
  resources: ["agentosconfigs/status"]
  verbs: ["patch"]
- apiGroups: ["agentos.dev"]
  resources: ["agentosconfigs/finalizers"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["configmaps", "services"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["persistentvolumeclaims"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["networking.k8s.io"]
  resources: ["networkpolicies", "ingresses"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["monitoring.coreos.com"]
  resources: ["podmonitors"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list"]
{{- end -}}

{{/*
Secrets: `get` the ones a resource references (and check whether the generated key exists);
`create` the generated `<name>-security-key` once; `create` and `patch` (server-side apply) the
`<name>-env` Secret it renders. No Secret is ever deleted (both go with their owner through
garbage collection). With the Secret watch on, `list` and `watch` too, so that a rotated Secret
rolls the pods at once: the operator asks for metadata only (PartialObjectMetadata), so no
Secret's data crosses the wire; RBAC cannot narrow `list` to metadata, so the grant itself would
allow more, which is why `rbac.clusterWideSecretWatch=false` can leave it out cluster-wide.
*/}}
{{- define "agentos-operator.secretRules" -}}
- apiGroups: [""]
  resources: ["secrets"]
  {{- if include "agentos-operator.watchSecrets" . }}
  verbs: ["get", "list", "watch", "create", "patch"]
  {{- else }}
  verbs: ["get", "create", "patch"]
  {{- end }}
{{- end -}}
