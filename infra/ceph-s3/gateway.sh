#!/bin/bash
# Stops or (re)starts only the S3 gateway (radosgw) of a cluster made by start.sh; the data stays in the OSD.
# Tests use it to take S3 away mid-upload and bring it back. Usage: gateway.sh stop|start (CEPH_DIR as for start.sh)
set -euo pipefail
D=${CEPH_DIR:-${TMPDIR:-/tmp}/ceph-s3}
export CEPH_CONF="$D/ceph.conf"
PIDFILE="$D/run/client.rgw.a.pid"
RGW_PORT=$(sed -n 's/^RGW_PORT=//p' "$D/env")
case "${1:-}" in
  stop)
    [ -f "$PIDFILE" ] || exit 0
    p=$(cat "$PIDFILE")
    kill -TERM "$p" 2>/dev/null || exit 0
    for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -KILL "$p"
    rm -f "$PIDFILE"
    # the port must be closed before we report "stopped"
    for i in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$RGW_PORT) 2>/dev/null || exit 0; sleep 0.1; done
    echo "radosgw still answers on $RGW_PORT" >&2; exit 1 ;;
  start)
    radosgw -n client.rgw.a
    for i in $(seq 300); do curl -sf -o /dev/null "http://127.0.0.1:$RGW_PORT/" && exit 0; sleep 0.1; done
    echo "radosgw did not come back on $RGW_PORT" >&2; exit 1 ;;
  *) echo "usage: $0 stop|start" >&2; exit 2 ;;
esac
