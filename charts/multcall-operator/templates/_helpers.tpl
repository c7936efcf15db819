{{/* Chart name, overridable. */}}
{{- define "multcall-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name of the release's objects; the release name alone when it already contains the chart name. */}}
{{- define "multcall-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "multcall-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that never change for the life of a release: Deployment and Service selectors. */}}
{{- define "multcall-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "multcall-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* Labels of every object of the release, without the component. */}}
{{- define "multcall-operator.commonLabels" -}}
helm.sh/chart: {{ include "multcall-operator.chart" . }}
app.kubernetes.io/name: {{ include "multcall-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: multcall
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "multcall-operator.labels" -}}
{{ include "multcall-operator.commonLabels" . }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "multcall-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "multcall-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "multcall-operator.workerServiceAccountName" -}}
{{- default (printf "%s-worker" (include "multcall-operator.fullname" .)) .Values.workers.serviceAccount.name -}}
{{- end -}}

{{- define "multcall-operator.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
Namespaced permissions the operator needs wherever Celulas live. Rendered into one
ClusterRole, or into a Role per watched namespace; docs/kubernetes.md says why each exists.
*/}}
{{- define "multcall-operator.namespacedRules" -}}
# Read the custom resources it reconciles.
- apiGroups: ["multcall.zanc.com.br"]
  resources: ["celulas", "centrals"]
  verbs: ["get", "list", "watch"]
# Report what it observed (server-side apply to /status); the operator never writes spec.
- apiGroups: ["multcall.zanc.com.br"]
  resources: ["celulas/status", "centrals/status"]
  verbs: ["patch"]
# Owner references with blockOwnerDeletion on its Deployments and ConfigMaps, where the
# OwnerReferencesPermissionEnforcement admission plugin is on.
- apiGroups: ["multcall.zanc.com.br"]
  resources: ["celulas/finalizers"]
  verbs: ["update"]
# One worker Deployment per célula and central.
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# The worker settings file, rendered per célula and central.
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# At most one worker of a célula on a central evicted at a time.
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# The AMI credentials a Central names, for its probe, and the Redis password a Celula names,
# to read its queue: each read by name, never listed, watched or written.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
# Events on Celulas and Centrals (scaling, unreachable centrals).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}

{{/*
Namespaces the operator manages, comma-separated: watchNamespaces, else the release
namespace; empty when clusterWide (every namespace).
*/}}
{{- define "multcall-operator.watchNamespaces" -}}
{{- if .Values.clusterWide -}}
{{- if .Values.watchNamespaces -}}
{{- fail "clusterWide manages every namespace: leave watchNamespaces empty with it" -}}
{{- end -}}
{{- else -}}
{{- join "," (.Values.watchNamespaces | default (list .Release.Namespace)) -}}
{{- end -}}
{{- end -}}
