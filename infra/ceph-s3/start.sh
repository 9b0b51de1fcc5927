#!/bin/bash
# A real S3 server for Skiff's tests and local runs: single-host Ceph (1 mon, 1 memstore OSD, no mgr, no cephx)
# + radosgw (beast) on 127.0.0.1, up in about 1.5 s. RGW verifies SigV4 signatures (header and presigned),
# implements multipart uploads and conditional PUTs (If-None-Match: *, If-Match).
# Needs: apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-common curl
# Env: OSD_STORE=memstore|bluestore, CEPH_DIR (default $TMPDIR/ceph-s3, wiped!), MON_PORT, RGW_PORT (default: free
#      ports), S3_ACCESS_KEY, S3_SECRET_KEY (default test / testsecret), S3_BUCKETS (buckets to create, space separated).
# Writes $CEPH_DIR/env (S3_ENDPOINT=..., RGW_PORT=...) for callers. Stop with stop.sh (same CEPH_DIR).
set -euo pipefail
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
D=${CEPH_DIR:-${TMPDIR:-/tmp}/ceph-s3}
MON_PORT=${MON_PORT:-$(free_port)}
RGW_PORT=${RGW_PORT:-$(free_port)}
AK=${S3_ACCESS_KEY:-test}
SK=${S3_SECRET_KEY:-testsecret}
T0=${EPOCHREALTIME/./}
wait_for() { # wait_for SECONDS WHAT CMD...
  local n=$(( $1 * 5 )) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do n=$((n-1)); [ $n -gt 0 ] || { echo "timeout waiting for $what; logs in $D/log" >&2; exit 1; }; sleep 0.2; done
}
ts() { local cs=$(( (${EPOCHREALTIME/./} - T0) / 10000 )); printf '[%3d.%02ds] %s\n' $((cs / 100)) $((cs % 100)) "$*"; }

for port in "$MON_PORT" "$RGW_PORT"; do   # refuse to run over a cluster that is still up
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then echo "127.0.0.1:$port is in use (old cluster? run stop.sh)" >&2; exit 1; fi
done
rm -rf "$D"; mkdir -p "$D"/{mon,osd,rgw,log,run}
# a failed start must not leave daemons behind
trap 'st=$?; [ $st -eq 0 ] || CEPH_DIR="$D" "$(dirname "$0")/stop.sh" >/dev/null 2>&1; exit $st' EXIT
FSID=$(cat /proc/sys/kernel/random/uuid)
cat > "$D/ceph.conf" <<CONF
[global]
fsid = $FSID
mon host = v2:127.0.0.1:$MON_PORT
mon initial members = a
public addr = 127.0.0.1
public network = 127.0.0.0/8
ms bind ipv6 = false
ms bind msgr1 = false
# rgw/radosgw-admin default to ms_mon_client_mode=secure, which cannot work with auth=none
ms mon client mode = crc
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = true
mon warn on insecure global id reclaim allowed = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
run dir = $D/run
admin socket = $D/run/\$name.asok
pid file = $D/run/\$name.pid
log file = $D/log/\$name.log
mon cluster log file = $D/log/cluster.log
keyring = /dev/null
# commit mon (paxos) changes fast: each rgw pool creation otherwise waits ~2 s (start 12 s -> 1.2 s)
paxos propose interval = 0.05
paxos min wait = 0.01
mon lease = 1

[mon]
mon data = $D/mon/\$name

[osd]
osd data = $D/osd/\$name
$(if [ "${OSD_STORE:-memstore}" = bluestore ]; then printf '%s\n' \
  'osd objectstore = bluestore' \
  "bluestore block path = $D/osd/block" 'bluestore block create = true' 'bluestore block size = 21474836480' \
  'bluestore fsck on mount = false' 'osd memory target = 939524096' 'bluestore cache autotune = true';
else printf '%s\n' 'osd objectstore = memstore' \
  '# capacity reported to the cluster; writes block once 95% of it is used' 'memstore device bytes = 4294967296'; fi)
osd crush update on start = true

[client.rgw.a]
debug rgw = 0/0
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
rgw data = $D/rgw
rgw thread pool size = 32
# reclaim overwritten/deleted object tails (e.g. multipart parts) after 10 s instead of 2 h;
# with memstore everything stays in RAM until the GC removes it
rgw gc obj min wait = 10
rgw gc processor period = 10
rgw gc processor max time = 10
CONF
export CEPH_CONF="$D/ceph.conf"

# --- monitor ---
monmaptool --create --clobber --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" "$D/monmap" >/dev/null
ceph-mon --mkfs -i a --monmap "$D/monmap"
ceph-mon -i a                       # daemonizes; pid in $D/run/mon.a.pid
ts "mon started"

# --- OSD (memstore: objects live in RAM) ---
OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
OSD_ID=$(ceph osd new "$OSD_UUID")
mkdir -p "$D/osd/osd.$OSD_ID"
ceph-osd -i "$OSD_ID" --mkfs --osd-uuid "$OSD_UUID" 2>>"$D/log/osd-mkfs.log"
ceph-osd -i "$OSD_ID" 2>>"$D/log/osd-stderr.log"   # daemonizes; pid in $D/run/osd.N.pid
ts "osd.$OSD_ID started"

wait_for 60 "osd.$OSD_ID up" sh -c "ceph osd dump | grep -q '^osd.$OSD_ID up'"
ts "osd.$OSD_ID up"

# --- radosgw ---
radosgw -n client.rgw.a                # daemonizes; pid in $D/run/client.rgw.a.pid
wait_for 60 radosgw curl -sf -o /dev/null "http://127.0.0.1:$RGW_PORT/"
ts "radosgw answering HTTP on 127.0.0.1:$RGW_PORT"
radosgw-admin user create --uid=test --display-name=test \
  --access-key="$AK" --secret="$SK" >"$D/user.json"
ts "S3 user created (access key $AK)"
EMPTY_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
for b in ${S3_BUCKETS:-}; do   # curl signs the request (SigV4) but, before curl 8, leaves the payload hash header to us
  code=$(curl -s -X PUT -H "x-amz-content-sha256: $EMPTY_SHA256" --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AK:$SK" \
    "http://127.0.0.1:$RGW_PORT/$b" -o "$D/log/create-bucket.xml" -w '%{http_code}') || code=000
  [ "$code" = 200 ] || { echo "creating bucket $b failed (HTTP $code): $(cat "$D/log/create-bucket.xml" 2>/dev/null)" >&2; exit 1; }
  ts "bucket $b created"
done
printf 'S3_ENDPOINT=http://127.0.0.1:%s\nRGW_PORT=%s\nMON_PORT=%s\n' "$RGW_PORT" "$RGW_PORT" "$MON_PORT" > "$D/env"
