{{- /*
SPDX-License-Identifier: Apache-2.0
Names, labels and computed settings. The naming rules are those of NVIDIA's chart, so that
with nameOverride=nvidia-device-plugin every object gets the name NVIDIA's chart gives it.
*/ -}}

{{- /* The chart's name: nameOverride, else the chart name; at most 63 characters. */ -}}
{{- define "gpu-device-plugin.name" -}}
{{- .Values.nameOverride | default .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- /* fullnameOverride; else the release name when it already holds the name; else
<release>-<name>. At most 63 characters. */ -}}
{{- define "gpu-device-plugin.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := .Values.nameOverride | default .Chart.Name -}}
{{- $full := ternary .Release.Name (printf "%s-%s" .Release.Name $name) (contains $name .Release.Name) -}}
{{- $full | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "gpu-device-plugin.namespace" -}}
{{- .Values.namespaceOverride | default .Release.Namespace -}}
{{- end -}}

{{- define "gpu-device-plugin.chart" -}}
{{- $name := .Values.nameOverride | default .Chart.Name -}}
{{- printf "%s-%s" $name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- /* The pod template's labels: name, instance and any selectorLabelsOverride. */ -}}
{{- define "gpu-device-plugin.templateLabels" -}}
app.kubernetes.io/name: {{ include "gpu-device-plugin.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- with .Values.selectorLabelsOverride }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- /* Every object's labels. */ -}}
{{- define "gpu-device-plugin.labels" -}}
helm.sh/chart: {{ include "gpu-device-plugin.chart" . }}
{{ include "gpu-device-plugin.templateLabels" . }}
{{- with .Chart.AppVersion }}
app.kubernetes.io/version: {{ . | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- /* The DaemonSets' selector: selectorLabelsOverride alone when set. */ -}}
{{- define "gpu-device-plugin.selectorLabels" -}}
{{- if .Values.selectorLabelsOverride -}}
{{ toYaml .Values.selectorLabelsOverride }}
{{- else -}}
{{ include "gpu-device-plugin.templateLabels" . }}
{{- end -}}
{{- end -}}

{{- define "gpu-device-plugin.fullimage" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default (printf "v%s" .Chart.AppVersion)) -}}
{{- end -}}

{{- /* The ConfigMap of named configs in use: config.name, <fullname>-configs for
config.map, or "". */ -}}
{{- define "gpu-device-plugin.configMapName" -}}
{{- if .Values.config.name -}}
{{- .Values.config.name -}}
{{- else if .Values.config.map -}}
{{- printf "%s-configs" (include "gpu-device-plugin.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "gpu-device-plugin.hasConfigMap" -}}
{{- ne (include "gpu-device-plugin.configMapName" .) "" -}}
{{- end -}}

{{- /* "true" when no config can select a MIG strategy other than none. The configs of a
ConfigMap are chosen per node at run time, so with one any strategy is assumed possible. */ -}}
{{- define "gpu-device-plugin.migIsNone" -}}
{{- if kindIs "string" .Values.migStrategy -}}
{{- eq .Values.migStrategy "none" -}}
{{- else -}}
{{- ne (include "gpu-device-plugin.hasConfigMap" .) "true" -}}
{{- end -}}
{{- end -}}

{{- /* "true" when the volume-mounts device list strategy may be used (likewise). */ -}}
{{- define "gpu-device-plugin.volumeMounts" -}}
{{- if kindIs "string" .Values.deviceListStrategy -}}
{{- contains "volume-mounts" .Values.deviceListStrategy -}}
{{- else -}}
{{- include "gpu-device-plugin.hasConfigMap" . -}}
{{- end -}}
{{- end -}}

{{- define "gpu-device-plugin.needsSysAdmin" -}}
{{- or (ne (include "gpu-device-plugin.migIsNone" .) "true") (eq (include "gpu-device-plugin.volumeMounts" .) "true") -}}
{{- end -}}

{{- /* The plugin container's securityContext, NVIDIA's rules in order: the user's; else
privileged for compatWithCPUManager; else SYS_ADMIN for MIG or volume-mounts; else no
capabilities and no privilege escalation. Ours adds readOnlyRootFilesystem. */ -}}
{{- define "gpu-device-plugin.securityContext" -}}
{{- if .Values.securityContext -}}
{{ toYaml .Values.securityContext }}
{{- else -}}
{{- if .Values.compatWithCPUManager -}}
privileged: true
{{- else if eq (include "gpu-device-plugin.needsSysAdmin" .) "true" -}}
capabilities:
  add: ["SYS_ADMIN"]
{{- else -}}
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
{{- end }}
{{- if .Values.readOnlyRootFilesystem }}
readOnlyRootFilesystem: true
{{- end }}
{{- end -}}
{{- end -}}

{{- /* GFD's: gfd.securityContext; else as the plugin's, without the CPU manager case. */ -}}
{{- define "gpu-device-plugin.gfdSecurityContext" -}}
{{- if .Values.gfd.securityContext -}}
{{ toYaml .Values.gfd.securityContext }}
{{- else -}}
{{- if eq (include "gpu-device-plugin.needsSysAdmin" .) "true" -}}
capabilities:
  add: ["SYS_ADMIN"]
{{- else -}}
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
{{- end }}
{{- if .Values.readOnlyRootFilesystem }}
readOnlyRootFilesystem: true
{{- end }}
{{- end -}}
{{- end -}}

{{- /* For config-manager's init containers: it reads the Node and writes an emptyDir. */ -}}
{{- define "gpu-device-plugin.leastPrivilege" -}}
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
{{- if .Values.readOnlyRootFilesystem }}
readOnlyRootFilesystem: true
{{- end }}
{{- end -}}

{{- define "gpu-device-plugin.resources" -}}
{{- toYaml (.Values.resources | default .Values.defaultResources) -}}
{{- end -}}

{{- /* Pod annotations: podAnnotations, plus a checksum of the embedded ConfigMap so that a
config change rolls the pods. */ -}}
{{- define "gpu-device-plugin.podAnnotations" -}}
{{- $a := deepCopy (.Values.podAnnotations | default dict) -}}
{{- if and .Values.config.map (not (hasKey $a "checksum/config")) -}}
{{- $_ := set $a "checksum/config" (include (print .Template.BasePath "/configmap.yml") . | sha256sum) -}}
{{- end -}}
{{- toYaml $a -}}
{{- end -}}

{{- /* config-manager as an init container (oneshot) or sidecar. Arguments: dict with
"root" (the top context), "name" (container name), "sidecar" (bool), "signal" (the process
name to signal) and "securityContext" (YAML text, may be empty). */ -}}
{{- define "gpu-device-plugin.configManager" -}}
{{- $v := .root.Values -}}
- name: {{ .name }}
  image: {{ include "gpu-device-plugin.fullimage" .root }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  command: ["config-manager"]
  env:
    - name: ONESHOT
      value: {{ (not .sidecar) | toString | quote }}
    - name: KUBECONFIG
      value: ""
    - name: NODE_NAME
      valueFrom:
        fieldRef:
          fieldPath: spec.nodeName
    - name: NODE_LABEL
      value: nvidia.com/device-plugin.config
    - name: CONFIG_FILE_SRCDIR
      value: /available-configs
    - name: CONFIG_FILE_DST
      value: /config/config.yaml
    - name: DEFAULT_CONFIG
      value: {{ $v.config.default | toString | quote }}
    - name: FALLBACK_STRATEGIES
      value: {{ join "," $v.config.fallbackStrategies | quote }}
    - name: SEND_SIGNAL
      value: {{ .sidecar | toString | quote }}
    - name: SIGNAL
      value: {{ ternary "1" "" .sidecar | quote }}
    - name: PROCESS_TO_SIGNAL
      value: {{ ternary .signal "" .sidecar | quote }}
  {{- with .securityContext }}
  securityContext:
    {{- . | nindent 4 }}
  {{- end }}
  volumeMounts:
    - name: available-configs
      mountPath: /available-configs
    - name: config
      mountPath: /config
{{- end -}}

{{- /* The volumes config-manager needs. */ -}}
{{- define "gpu-device-plugin.configVolumes" -}}
- name: available-configs
  configMap:
    name: {{ include "gpu-device-plugin.configMapName" . | quote }}
- name: config
  emptyDir: {}
{{- end -}}

{{- /* nodeSelector, affinity and tolerations of a pod spec. */ -}}
{{- define "gpu-device-plugin.placement" -}}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- /* priorityClassName, runtimeClassName, imagePullSecrets, podSecurityContext. */ -}}
{{- define "gpu-device-plugin.podCommon" -}}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.runtimeClassName }}
runtimeClassName: {{ . }}
{{- end }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml (.Values.podSecurityContext | default dict) | nindent 2 }}
{{- end -}}
