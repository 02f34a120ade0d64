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

{{- define "agentos-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agentos-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "agentos-operator.labels" -}}
{{ include "agentos-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kube-agentos
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "agentos-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "agentos-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "agentos-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "agentos-operator.runtimeImage" -}}
{{- printf "%s:%s" .Values.runtimeImage.repository (default .Chart.AppVersion .Values.runtimeImage.tag) -}}
{{- end -}}

{{/* The namespaced-mode flag: true when rbac.namespaces lists namespaces. */}}
{{- define "agentos-operator.namespaced" -}}
{{- if .Values.rbac.namespaces -}}true{{- end -}}
{{- end -}}

{{/*
The least the operator needs. Namespaced objects: the AgentOSConfigs it reconciles and the
children it renders (create, patch through server-side apply, delete when pruned; never update
or deletecollection). Secrets: it writes `<name>-env` and `<name>-security-key` and reads the ones a
resource references; it lists and watches them so that a rotation rolls the pods at once.
*/}}
{{- define "agentos-operator.namespacedRules" -}}
- apiGroups: ["agentos.dev"]
  resources: ["agentosconfigs"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["agentos.dev"]
  resources: ["agentosconfigs/status"]
  verbs: ["get", "patch"]
- apiGroups: [""]
  resources: ["configmaps", "services", "persistentvolumeclaims"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
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
  resources: ["networkpolicies"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["", "events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "create", "patch"]
{{- end -}}
