{{- define "legant.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "legant.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "legant.selectorLabels" -}}
app.kubernetes.io/name: {{ include "legant.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "legant.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "legant.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "legant.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "legant.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "legant.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "legant.registryConfigMap" -}}
{{- default (printf "%s-registry" (include "legant.fullname" .)) .Values.registry.existingConfigMap -}}
{{- end -}}

{{- define "legant.secretName" -}}
{{- required "secrets.existingSecret is required: a Secret with the database URL, key secret and admin token" .Values.secrets.existingSecret -}}
{{- end -}}

{{/* Environment every legant container shares: the database URL and the key secret, by reference. */}}
{{- define "legant.secretEnv" -}}
- name: LEGANT_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "legant.secretName" . }}
      key: {{ .Values.secrets.databaseURLKey }}
- name: LEGANT_KEY_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "legant.secretName" . }}
      key: {{ .Values.secrets.keySecretKey }}
{{- end -}}

{{- define "legant.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "legant.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/*
The secret-files script: copies the key directory and the admin token from
their Secret volumes (root:65532, 0440 under fsGroup, which legant refuses as
group-readable) to an in-memory emptyDir as 0600 files of the pod's user.
PEM files first and keys.json last, each replaced by rename, so the gateway's
key watcher never reads a keys.json naming a key not yet there.
*/}}
{{- define "legant.copyScript" -}}
set -eu
copy() { if ! cmp -s "$1" "$2"; then cp "$1" "$2.tmp"; chmod 600 "$2.tmp"; mv -f "$2.tmp" "$2"; fi; }
sync() {
  mkdir -p /run/legant/keys
  chmod 700 /run/legant/keys
  for f in /secrets/keys/*.pem; do copy "$f" "/run/legant/keys/${f##*/}"; done
  copy /secrets/keys/keys.json /run/legant/keys/keys.json
  copy /secrets/admin/admin-token /run/legant/admin-token
}
{{- end -}}
