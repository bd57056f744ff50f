{{- define "smack-operators.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}{{ .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" }}{{ end }}
{{- end }}

{{- define "smack-operators.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/* The name of one operator's objects: dict "root" $ "op" "kafka" */}}
{{- define "smack-operators.name" -}}
{{ include "smack-operators.fullname" .root }}-{{ .op }}
{{- end }}

{{- define "smack-operators.selector" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .op }}
{{- end }}

{{- define "smack-operators.webhookServes" -}}
{{- $ops := splitList "," (include "smack-operators.webhookOperators" .root) -}}
{{- if and .root.Values.webhook.enabled (has .op $ops) }}true{{ end -}}
{{- end }}

{{- define "smack-operators.certManager" -}}
{{- $c := .Values.webhook.certificate -}}
{{- if or (eq $c "cert-manager") (and (eq $c "auto") (.Capabilities.APIVersions.Has "cert-manager.io/v1")) }}true{{ end -}}
{{- end }}

{{- define "smack-operators.webhookSecret" -}}
{{ include "smack-operators.fullname" . }}-webhook-tls
{{- end }}
