#!/usr/bin/env bash
# Installs the real S3-compatible server the S3 tests start on loopback:
# Debian's Ceph packages (one monitor, one memstore OSD, radosgw). About 13 s
# and 260 MB on a fresh machine; does nothing if they are already installed.
# Runs as root (or through sudo). Without these packages the S3 suites are
# skipped with a message and everything else still runs.
set -euo pipefail

needed=(ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph)
have_all() {
  for bin in "${needed[@]}"; do command -v "$bin" >/dev/null 2>&1 || return 1; done
  /usr/bin/python3 -c 'import rados' >/dev/null 2>&1 || return 1
}

if have_all; then
  echo "install-s3-server: Ceph already installed ($(ceph-mon --version 2>/dev/null | cut -d' ' -f1-3))"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else echo "install-s3-server: run as root" >&2; exit 1; fi
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends radosgw ceph-mon ceph-osd >/dev/null

have_all || { echo "install-s3-server: Ceph binaries still missing after install" >&2; exit 1; }
echo "install-s3-server: installed $(ceph-mon --version 2>/dev/null | cut -d' ' -f1-3)"
