#!/usr/bin/env bash
# Installs what aigw needs to build, test, demo and benchmark on Debian 12, and mounts
# bpffs. Idempotent: does nothing that is already done. Run as root (make does).
# `setup.sh system` does the packages and bpffs only, `setup.sh clients` the end-to-end tests'
# SDK clients only (make test runs that beside its compiles); no argument does both.
set -euo pipefail
what=${1:-all}
case $what in
all | system | clients) ;;
*)
	echo "usage: setup.sh [system|clients]" >&2
	exit 2
	;;
esac

PKGS=(make clang llvm gcc pkg-config libbpf-dev bpftool libelf-dev zlib1g-dev
      libevent-dev libssl-dev libcjson-dev libnl-3-dev libnl-genl-3-dev libnl-route-3-dev
      liburing-dev libhttp-parser-dev libsqlite3-dev iproute2 util-linux curl python3
      python3-pytest python3-requests libclang-rt-14-dev nginx-light wrk haproxy openssl
      python3-prometheus-client chromium libvectorscan-dev libpcre2-dev
      libnghttp2-dev nghttp2-client python3-boto3 python3-httpx python3-h2
      python3-pytest-xdist lld)

packages() {
	local p missing=()
	for p in "${PKGS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		if [ "$(id -u)" -ne 0 ]; then
			echo "setup: missing packages: ${missing[*]}; run as root (sudo make ...)" >&2
			exit 1
		fi
		echo "setup: installing ${missing[*]}"
		apt-get update -q
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
		# Debian starts nginx on install; the benchmark runs its own instance.
		if command -v service >/dev/null && pgrep -x nginx >/dev/null; then
			service nginx stop >/dev/null 2>&1 || true
		fi
	fi
}

# The end-to-end tests' legacy apps (tests/e2e/clients): the official OpenAI and Anthropic
# SDKs as package-lock.json pins them. Node 20 and npm come with the machine image.
clients() {
	local dir lock_sum
	dir="$(cd "$(dirname "$0")/.." && pwd)/tests/e2e/clients"
	lock_sum=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
	if [ "$(cat "$dir/node_modules/.setup-lock.sha256" 2>/dev/null)" != "$lock_sum" ]; then
		if ! command -v npm >/dev/null; then
			echo "setup: npm is missing (nodejs 20 with npm); needed for $dir" >&2
			exit 1
		fi
		echo "setup: npm ci in $dir"
		npm ci --prefix "$dir" --no-audit --no-fund
		echo "$lock_sum" >"$dir/node_modules/.setup-lock.sha256"
	fi
}

bpffs() {
	if [ "$(id -u)" -eq 0 ] && ! awk '$3=="bpf"{f=1} END{exit !f}' /proc/mounts; then
		echo "setup: mounting bpffs at /sys/fs/bpf"
		mount -t bpf bpf /sys/fs/bpf
	fi
}

case $what in
system)
	packages
	bpffs
	;;
clients) clients ;;
*)
	packages
	clients
	bpffs
	;;
esac
