#!/usr/bin/env bash
# Install what building, testing and benchmarking need (Debian 12, as root),
# then build and install the extension.  Safe to run again: apt is skipped
# when every package is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# chromium and a font: test/e2e_page.sh loads the endpoint's page in a browser;
# the -dev libraries: Citus' build (test/citus_build.sh, for test/e2e_citus.sh)
packages=(make gcc python3 postgresql-15 postgresql-server-dev-15 postgresql-contrib
          postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
          postgresql-15-pgaudit prometheus postgresql-15-tdigest zlib1g-dev curl
          chromium fonts-dejavu-core
          liblz4-dev libzstd-dev libcurl4-openssl-dev libkrb5-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "setup: missing packages ${missing[*]}; run as root to install them" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # Debian's postgresql-common would create and start a cluster on 5432;
    # we never use it, so ask it not to.
    mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/metrics_ex.conf
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

make -s ${WERROR:+WERROR=1}
make -s install >/dev/null
