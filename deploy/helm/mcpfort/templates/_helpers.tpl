{{- define "mcpfort.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mcpfort.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "mcpfort.labels" -}}
{{ include "mcpfort.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "mcpfort.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{- /* The configuration file: the operator's config with what the chart
owns (listen address, state directory, TLS files) set on top. */ -}}
{{- define "mcpfort.config" -}}
{{- $c := deepCopy .Values.config -}}
{{- $_ := set $c "listen" "0.0.0.0:8080" -}}
{{- $state := get $c "state" | default dict -}}
{{- $_ = set $state "dir" "/var/lib/mcpfort" -}}
{{- $_ = set $c "state" $state -}}
{{- if .Values.tls.secretName -}}
{{- $http := get $c "http" | default dict -}}
{{- $_ = set $http "tls" (dict "cert_file" "/etc/mcpfort/tls/tls.crt" "key_file" "/etc/mcpfort/tls/tls.key") -}}
{{- $_ = set $c "http" $http -}}
{{- end -}}
{{- toYaml $c -}}
{{- end -}}
