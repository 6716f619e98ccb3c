#!/usr/bin/env bash
# trust-ca.sh: installs (or, with --uninstall, removes) the aigw gateway CA in the Debian/Ubuntu
# system trust store, then prints what each language runtime needs on top of it.
#
#   sudo deploy/trust-ca.sh [CA_PEM]             default CA_PEM: /var/lib/aigw/ca/ca.pem
#   sudo deploy/trust-ca.sh --uninstall
#
# Only the certificate is installed, never ca.key. The CA is name-constrained to the provider
# domains it was made for (`aigw ca init`), so trusting it cannot vouch for any other site.
set -euo pipefail

NAME=aigw-gateway-ca
DEST=/usr/local/share/ca-certificates/$NAME.crt
BUNDLE=/etc/ssl/certs/ca-certificates.crt
DEFAULT_CA=/var/lib/aigw/ca/ca.pem

die() {
	echo "trust-ca: $*" >&2
	exit 1
}

usage() {
	sed -n '2,9s/^# \{0,1\}//p' "$0"
}

need_root() {
	[ "$(id -u)" -eq 0 ] || die "run as root (it writes $DEST and updates $BUNDLE)"
	command -v update-ca-certificates >/dev/null ||
		die "update-ca-certificates not found: apt-get install ca-certificates"
	command -v openssl >/dev/null || die "openssl not found: apt-get install openssl"
}

# update-ca-certificates, quiet unless it fails.
update_store() {
	local out

	out=$(update-ca-certificates "$@" 2>&1) || {
		echo "$out" >&2
		die "update-ca-certificates $* failed"
	}
}

# Refuses anything but a single CA certificate, and a private key above all.
check_ca() {
	local ca=$1

	[ -f "$ca" ] || die "$ca: no such file (make the CA with: aigw ca init /var/lib/aigw/ca)"
	if grep -q "PRIVATE KEY" "$ca"; then
		die "$ca holds a private key: give this script ca.pem, never ca.key"
	fi
	openssl x509 -in "$ca" -noout 2>/dev/null || die "$ca: not a PEM certificate"
	openssl x509 -in "$ca" -noout -ext basicConstraints 2>/dev/null | grep -q "CA:TRUE" ||
		die "$ca: not a CA certificate (basicConstraints CA:TRUE missing)"
	if ! openssl x509 -in "$ca" -noout -ext nameConstraints 2>/dev/null |
		grep -q "Permitted"; then
		die "$ca: no name constraints; aigw CAs are limited to the provider domains," \
			"and a CA that is not would be trusted for every site"
	fi
}

print_runtimes() {
	cat <<EOF

System-wide: everything that reads the system bundle now trusts the gateway for the
constrained domains: curl, wget, git, Go, Ruby, PHP, Python's ssl module
with its default context, GnuTLS programs; Java too if ca-certificates-java is installed
(it refreshes /etc/ssl/certs/java/cacerts from the same hook).

Runtimes that ship their own roots need a variable in the WORKLOAD's environment
(systemd Environment=, docker run -e, a Kubernetes env: entry), read at process start:

  export SSL_CERT_FILE=$BUNDLE
      Python httpx (the openai and anthropic SDKs) and anything else that honours it in
      place of certifi; also any OpenSSL-based program. It REPLACES the default bundle:
      point it at the whole system bundle, never at ca.pem alone, or every other site
      breaks.

  export REQUESTS_CA_BUNDLE=$BUNDLE
      Python requests (and libraries built on it), which otherwise use certifi's copy of
      the Mozilla roots. Same rule: the whole bundle.

  export NODE_EXTRA_CA_CERTS=$DEST
      Node.js, which uses its compiled-in Mozilla roots and ignores the system store.
      This one ADDS certificates, so it takes the gateway CA alone. (Newer Node versions
      also accept --use-system-ca.)

Others: Rust programs using webpki-roots (rustls' default in many crates) trust only
compiled-in roots and need a code change; rustls-native-certs and native-tls use the
system store. Containers have their own trust store: bake the CA into the image (COPY
it to $DEST, RUN update-ca-certificates) or mount the
host's $BUNDLE and set the variables above.
EOF
}

install_ca() {
	local ca=$1

	need_root
	check_ca "$ca"
	install -D -m 0644 -o root -g root "$ca" "$DEST"
	update_store
	grep -qF "$(sed -n '2p' "$DEST")" "$BUNDLE" ||
		die "update-ca-certificates ran but $BUNDLE does not hold the CA"
	echo "installed $DEST and added it to $BUNDLE"
	openssl x509 -in "$DEST" -noout -subject -fingerprint -sha256 -ext nameConstraints |
		sed 's/^/  /'
	print_runtimes
}

uninstall_ca() {
	need_root
	if [ -e "$DEST" ]; then
		rm -f "$DEST"
		update_store --fresh
		echo "removed $DEST and rebuilt $BUNDLE without it"
	else
		echo "$DEST is not installed; nothing to remove"
	fi
	cat <<EOF
Also undo what was set for the workloads: SSL_CERT_FILE and REQUESTS_CA_BUNDLE may stay
(they name the system bundle); NODE_EXTRA_CA_CERTS should go (Node warns at every start
that it cannot load the file); containers that baked the CA in trust it until rebuilt.
EOF
}

case "${1:-}" in
-h | --help)
	usage
	;;
--uninstall)
	[ $# -eq 1 ] || die "--uninstall takes no other argument"
	uninstall_ca
	;;
-*)
	usage >&2
	exit 2
	;;
*)
	[ $# -le 1 ] || die "one CA file at most"
	install_ca "${1:-$DEFAULT_CA}"
	;;
esac
