#!/bin/sh
# The monitor container's entrypoint: writes the config file from the environment, then runs
# `campus-monitor "$@"` with CAMPUS_CONFIG naming that file.
#
# Secrets come from the environment (docker-compose.yml fills it from .env):
#   CAMPUS_MQTT_URL       mqtt://campus-monitor:PASSWORD@mosquitto:1883
#   CAMPUS_DATABASE_URL   postgresql+psycopg://campus:PASSWORD@postgres:5432/campus
#   CAMPUS_HTTP_LISTEN    0.0.0.0:8080 (default)
#   CAMPUS_CLUSTER_NODE   several instances: this instance's [cluster] node (compose profile `cluster`)
#   CAMPUS_MQTT_FAILOVER  several instances: other broker nodes, comma-separated ([mqtt] failover)
# Everything else ([alerts], [tickets], [buses], [[receivers]], ...) is in the file named by
# CAMPUS_CONFIG_EXTRA (default /etc/campus/campus.toml), appended as it is; it must not have
# [mqtt], [database] or [http] tables of its own.
set -eu

CAMPUS_CONFIG="${CAMPUS_CONFIG:-/tmp/campus.toml}"
for value in "${CAMPUS_MQTT_URL:-}" "${CAMPUS_DATABASE_URL:-}"; do
    case "$value" in
        *'"'*|*'\'*) echo "entrypoint: a URL in the environment holds \" or \\; use hex passwords (openssl rand -hex 24)" >&2; exit 2 ;;
    esac
done
extra="${CAMPUS_CONFIG_EXTRA:-/etc/campus/campus.toml}"
umask 077
{
    printf '# written by the container entrypoint from the environment\n'
    if [ -n "${CAMPUS_MQTT_URL:-}" ]; then
        printf '[mqtt]\nurl = "%s"\nclient_id = "%s"\n' "$CAMPUS_MQTT_URL" "${CAMPUS_MQTT_CLIENT_ID:-campus-monitor}"
        if [ -n "${CAMPUS_MQTT_FAILOVER:-}" ]; then  # several instances: other broker nodes, comma-separated
            printf 'failover = ["%s"]\n' "$(printf '%s' "$CAMPUS_MQTT_FAILOVER" | sed 's/,/", "/g')"
        fi
    fi
    if [ -n "${CAMPUS_CLUSTER_NODE:-}" ]; then  # several instances (contract §9): this one's name
        printf '[cluster]\nnode = "%s"\n' "$CAMPUS_CLUSTER_NODE"
    fi
    if [ -n "${CAMPUS_DATABASE_URL:-}" ]; then
        printf '[database]\nurl = "%s"\n' "$CAMPUS_DATABASE_URL"
    fi
    printf '[http]\nlisten = "%s"\n' "${CAMPUS_HTTP_LISTEN:-0.0.0.0:8080}"
    if [ -f "$extra" ]; then
        printf '\n# from %s\n' "$extra"
        cat "$extra"
    fi
} > "$CAMPUS_CONFIG"
export CAMPUS_CONFIG

case "${1:-} ${2:-}" in
    "run "*)
        shift
        exec campus-monitor run --config "$CAMPUS_CONFIG" "$@"
        ;;
    "bridge "*)  # campus-monitor bridge {jt808,gb28181,rtsp} (docs/bridges.md)
        proto="$2"; shift 2
        exec campus-monitor bridge "$proto" --config "$CAMPUS_CONFIG" "$@"
        ;;
    "registry import"|"token create"|"token list"|"token revoke")  # the others that read the config
        cmd="$1" sub="$2"; shift 2
        exec campus-monitor "$cmd" "$sub" --config "$CAMPUS_CONFIG" "$@"
        ;;
    *)
        exec campus-monitor "$@"
        ;;
esac
