{{/* Names and labels. */}}
{{- define "appliance.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "appliance.fullname" -}}
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

{{- define "appliance.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "appliance.selectorLabels" -}}
app.kubernetes.io/name: {{ include "appliance.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "appliance.labels" -}}
helm.sh/chart: {{ include "appliance.chart" . }}
{{ include "appliance.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: appliance
{{- end -}}

{{/* Labels of one component: (dict "ctx" $ "component" "api") */}}
{{- define "appliance.componentLabels" -}}
{{ include "appliance.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "appliance.componentSelector" -}}
{{ include "appliance.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "appliance.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "appliance.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* An image reference: (dict "image" .Values.x.image "default" tag) */}}
{{- define "appliance.imageRef" -}}
{{- if .image.digest -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository (toString (default .default .image.tag)) -}}
{{- end -}}
{{- end -}}

{{- define "appliance.image" -}}
{{- include "appliance.imageRef" (dict "image" .Values.image "default" .Chart.AppVersion) -}}
{{- end -}}

{{/* Secret names. */}}
{{- define "appliance.postgresSecret" -}}
{{- default (printf "%s-postgresql" (include "appliance.fullname" .)) .Values.postgresql.auth.existingSecret -}}
{{- end -}}

{{- define "appliance.jwtSecret" -}}
{{- default (printf "%s-jwt" (include "appliance.fullname" .)) .Values.jwt.existingSecret -}}
{{- end -}}

{{- define "appliance.s3Secret" -}}
{{- if .Values.minio.enabled -}}
{{- default (printf "%s-minio" (include "appliance.fullname" .)) .Values.minio.auth.existingSecret -}}
{{- else -}}
{{- .Values.externalS3.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "appliance.s3AccessKeyKey" -}}
{{- if .Values.minio.enabled -}}root-user{{- else -}}access-key{{- end -}}
{{- end -}}

{{- define "appliance.s3SecretKeyKey" -}}
{{- if .Values.minio.enabled -}}root-password{{- else -}}secret-key{{- end -}}
{{- end -}}

{{- define "appliance.postgresHost" -}}
{{- printf "%s-postgresql" (include "appliance.fullname" .) -}}
{{- end -}}

{{- define "appliance.s3Enabled" -}}
{{- if or .Values.minio.enabled .Values.externalS3.endpoint -}}true{{- end -}}
{{- end -}}

{{- define "appliance.milvusUri" -}}
{{- if .Values.milvus.enabled -}}
{{- printf "http://%s-milvus:19530" (include "appliance.fullname" .) -}}
{{- else -}}
{{- .Values.externalMilvus.uri -}}
{{- end -}}
{{- end -}}

{{- define "appliance.publicUrl" -}}
{{- if .Values.publicUrl -}}
{{- .Values.publicUrl -}}
{{- else if .Values.ingress.enabled -}}
{{- printf "%s://%s" (ternary "https" "http" (ne .Values.ingress.tlsSecretName "")) .Values.ingress.host -}}
{{- end -}}
{{- end -}}

{{/*
A secret value kept across upgrades: the given value, else the one in the live Secret
(lookup; empty when rendering offline), else a random one.
(dict "ctx" $ "secret" name "key" k "value" v "length" n)
*/}}
{{- define "appliance.keptSecret" -}}
{{- if .value -}}
{{- .value -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .secret -}}
{{- if and $existing (hasKey $existing.data .key) -}}
{{- index $existing.data .key | b64dec -}}
{{- else -}}
{{- randAlphaNum (int (default 32 .length)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Environment shared by every container running the appliance image. */}}
{{- define "appliance.commonEnv" -}}
- name: APPLIANCE_DATA_DIR
  value: /var/lib/appliance
{{- range $key, $value := .Values.config }}
- name: {{ $key }}
  value: {{ $value | quote }}
{{- end }}
{{- with include "appliance.publicUrl" . }}
- name: APPLIANCE_PUBLIC_URL
  value: {{ . | quote }}
{{- end }}
{{- with include "appliance.milvusUri" . }}
- name: APPLIANCE_MILVUS_URI
  value: {{ . | quote }}
{{- end }}
{{- if and (not .Values.milvus.enabled) .Values.externalMilvus.uri .Values.externalMilvus.existingSecret }}
- name: APPLIANCE_MILVUS_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.externalMilvus.existingSecret }}
      key: milvus-token
{{- end }}
{{- if include "appliance.s3Enabled" . }}
{{- if .Values.minio.enabled }}
- name: APPLIANCE_S3_ENDPOINT
  value: {{ printf "%s-minio:9000" (include "appliance.fullname" .) | quote }}
- name: APPLIANCE_S3_SECURE
  value: "false"
{{- with .Values.minio.ingress.host }}
- name: APPLIANCE_S3_PUBLIC_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- else }}
- name: APPLIANCE_S3_ENDPOINT
  value: {{ .Values.externalS3.endpoint | quote }}
- name: APPLIANCE_S3_SECURE
  value: {{ .Values.externalS3.secure | quote }}
{{- with .Values.externalS3.region }}
- name: APPLIANCE_S3_REGION
  value: {{ . | quote }}
{{- end }}
{{- with .Values.externalS3.publicEndpoint }}
- name: APPLIANCE_S3_PUBLIC_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- end }}
- name: APPLIANCE_S3_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "appliance.s3Secret" . }}
      key: {{ include "appliance.s3AccessKeyKey" . }}
- name: APPLIANCE_S3_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "appliance.s3Secret" . }}
      key: {{ include "appliance.s3SecretKeyKey" . }}
{{- end }}
{{- end -}}

{{/* Pod-level hardening shared by the appliance pods. */}}
{{- define "appliance.podSecurity" -}}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Checks of combinations the schema cannot express. */}}
{{- define "appliance.validate" -}}
{{- if and (not .Values.postgresql.enabled) (not .Values.externalDatabase.existingSecret) -}}
{{- fail "postgresql.enabled=false needs externalDatabase.existingSecret" -}}
{{- end -}}
{{- if and .Values.milvus.enabled .Values.externalMilvus.uri -}}
{{- fail "set either milvus.enabled or externalMilvus.uri, not both" -}}
{{- end -}}
{{- if and .Values.minio.enabled .Values.externalS3.endpoint -}}
{{- fail "set either minio.enabled or externalS3.endpoint, not both" -}}
{{- end -}}
{{- if and .Values.externalS3.endpoint (not .Values.externalS3.existingSecret) -}}
{{- fail "externalS3.endpoint needs externalS3.existingSecret (keys access-key, secret-key)" -}}
{{- end -}}
{{- if .Values.networkPolicy.enabled -}}
{{- if and (not .Values.postgresql.enabled) (not .Values.externalDatabase.cidr) -}}
{{- fail "networkPolicy.enabled with an external database needs externalDatabase.cidr" -}}
{{- end -}}
{{- if and .Values.externalMilvus.uri (not .Values.externalMilvus.cidr) -}}
{{- fail "networkPolicy.enabled with externalMilvus.uri needs externalMilvus.cidr" -}}
{{- end -}}
{{- if and .Values.externalS3.endpoint (not .Values.externalS3.cidr) -}}
{{- fail "networkPolicy.enabled with externalS3.endpoint needs externalS3.cidr" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The API's database connection: the runtime (non-owner) role only. */}}
{{- define "appliance.apiDatabaseEnv" -}}
{{- if .Values.postgresql.enabled }}
- name: PG_APP_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "appliance.postgresSecret" . }}
      key: app-password
- name: APPLIANCE_APP_DATABASE_URL
  value: {{ printf "postgresql://appliance_app:$(PG_APP_PASSWORD)@%s:5432/%s" (include "appliance.postgresHost" .) .Values.postgresql.database | quote }}
{{- else }}
- name: APPLIANCE_APP_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.externalDatabase.existingSecret }}
      key: app-database-url
{{- end }}
{{- end -}}

{{/* The owner connection of migrate and purge, and the runtime role's password. */}}
{{- define "appliance.ownerDatabaseEnv" -}}
{{- if .Values.postgresql.enabled }}
- name: PG_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "appliance.postgresSecret" . }}
      key: postgres-password
- name: APPLIANCE_DATABASE_URL
  value: {{ printf "postgresql://postgres:$(PG_PASSWORD)@%s:5432/%s" (include "appliance.postgresHost" .) .Values.postgresql.database | quote }}
- name: APPLIANCE_APP_DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "appliance.postgresSecret" . }}
      key: app-password
{{- else }}
- name: APPLIANCE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.externalDatabase.existingSecret }}
      key: database-url
- name: APPLIANCE_APP_DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.externalDatabase.existingSecret }}
      key: app-database-password
{{- end }}
{{- end -}}

{{/* Hook annotations of the Secrets the migrate hook needs before the release's resources. */}}
{{- define "appliance.secretHook" -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: "-10"
helm.sh/hook-delete-policy: before-hook-creation
helm.sh/resource-policy: keep
{{- end -}}

{{/* NetworkPolicy egress rules, by what they reach. */}}
{{- define "appliance.np.dns" -}}
- to:
    - namespaceSelector:
        {{- toYaml .Values.networkPolicy.dns.namespaceSelector | nindent 8 }}
      podSelector:
        {{- toYaml .Values.networkPolicy.dns.podSelector | nindent 8 }}
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end -}}
{{- define "appliance.np.postgresql" -}}
{{- if .Values.postgresql.enabled }}
- to:
    - podSelector:
        matchLabels:
          {{- include "appliance.componentSelector" (dict "ctx" . "component" "postgresql") | nindent 10 }}
  ports:
    - port: 5432
      protocol: TCP
{{- else }}
- to:
    - ipBlock:
        cidr: {{ .Values.externalDatabase.cidr }}
  ports:
    - port: {{ .Values.externalDatabase.port }}
      protocol: TCP
{{- end }}
{{- end -}}
{{- define "appliance.np.milvus" -}}
{{- if .Values.milvus.enabled }}
- to:
    - podSelector:
        matchLabels:
          {{- include "appliance.componentSelector" (dict "ctx" . "component" "milvus") | nindent 10 }}
  ports:
    - port: 19530
      protocol: TCP
{{- else if .Values.externalMilvus.uri }}
- to:
    - ipBlock:
        cidr: {{ .Values.externalMilvus.cidr }}
  ports:
    - port: {{ .Values.externalMilvus.port }}
      protocol: TCP
{{- end }}
{{- end -}}
{{- define "appliance.np.s3" -}}
{{- if .Values.minio.enabled }}
- to:
    - podSelector:
        matchLabels:
          {{- include "appliance.componentSelector" (dict "ctx" . "component" "minio") | nindent 10 }}
  ports:
    - port: 9000
      protocol: TCP
{{- else if .Values.externalS3.endpoint }}
- to:
    - ipBlock:
        cidr: {{ .Values.externalS3.cidr }}
  ports:
    - port: {{ .Values.externalS3.port }}
      protocol: TCP
{{- end }}
{{- end -}}
