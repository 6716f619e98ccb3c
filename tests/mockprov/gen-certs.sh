#!/bin/bash
# SPDX-License-Identifier: MIT
#
# gen-certs.sh OUTDIR: test certificates for mockprov, made with the openssl CLI.
#
#   ca.pem / ca.key            test upstream CA (trust it to verify the mock)
#   server.pem / server.key    api.openai.com, api.anthropic.com (+ localhost, 127.0.0.1, ::1),
#                              signed by the CA
#   expired.pem / expired.key  the same names, signed by the CA, expired in 2020
#   wrong.pem / wrong.key      wrong.example.test only, signed by the CA
#
# Idempotent: files already there are kept (the leaf certificates are only remade when the CA
# is new); every file is written to a temporary name first and renamed into place.
set -euo pipefail

out=${1:?usage: gen-certs.sh OUTDIR}
mkdir -p "$out"
cd "$out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gen-certs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# the providers aigw ships presets for (policies/default.json), so tests can stand in for each
names="DNS:api.openai.com,DNS:api.anthropic.com,DNS:api.mistral.ai,DNS:api.groq.com"
names="$names,DNS:api.deepseek.com,DNS:api.x.ai,DNS:api.together.ai,DNS:api.together.xyz"
names="$names,DNS:api.fireworks.ai"
names="$names,DNS:openrouter.ai,DNS:api.perplexity.ai,DNS:api.cerebras.ai"
names="$names,DNS:*.openai.azure.com,DNS:*.cognitiveservices.azure.com,DNS:*.services.ai.azure.com"
names="$names,DNS:aiplatform.googleapis.com,DNS:us-east5-aiplatform.googleapis.com"
names="$names,DNS:oauth2.googleapis.com"
names="$names,DNS:generativelanguage.googleapis.com"
names="$names,DNS:bedrock-runtime.us-east-1.amazonaws.com"
names="$names,DNS:localhost,IP:127.0.0.1,IP:::1"

newkey() { # FILE
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/key" 2>/dev/null
	chmod 600 "$tmp/key"
	mv "$tmp/key" "$1"
}

leaf_ext() { # SANS
	cat >"$tmp/ext" <<EOF
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = $1
EOF
}

make_ca() {
	newkey ca.key
	openssl req -x509 -new -key ca.key -sha256 -days 3650 \
		-subj "/O=aigw tests/CN=aigw test upstream CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-addext "subjectKeyIdentifier=hash" -out "$tmp/ca.pem"
	mv "$tmp/ca.pem" ca.pem
}

# leaf NAME CN SANS: a certificate valid from now for 825 days
leaf() {
	newkey "$1.key"
	leaf_ext "$3"
	openssl req -new -key "$1.key" -subj "/O=aigw tests/CN=$2" -out "$tmp/$1.csr"
	openssl x509 -req -in "$tmp/$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
		-CAserial "$tmp/ca.srl" -sha256 -days 825 -extfile "$tmp/ext" -extensions leaf \
		-out "$tmp/$1.pem" 2>/dev/null
	mv "$tmp/$1.pem" "$1.pem"
}

# expired NAME CN SANS: valid only in January 2020 (openssl ca sets explicit dates)
expired() {
	newkey "$1.key"
	leaf_ext "$3"
	mkdir -p "$tmp/db"
	: >"$tmp/db/index.txt"
	echo 1000 >"$tmp/db/serial"
	cat >>"$tmp/ext" <<EOF
[ca]
default_ca = test_ca
[test_ca]
database = $tmp/db/index.txt
new_certs_dir = $tmp/db
serial = $tmp/db/serial
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[anything]
organizationName = optional
commonName = supplied
EOF
	openssl req -new -key "$1.key" -subj "/O=aigw tests/CN=$2" -out "$tmp/$1.csr"
	openssl ca -batch -notext -config "$tmp/ext" -extfile "$tmp/ext" -extensions leaf \
		-cert ca.pem -keyfile ca.key -startdate 20200101000000Z -enddate 20200201000000Z \
		-in "$tmp/$1.csr" -out "$tmp/$1.pem" 2>/dev/null
	mv "$tmp/$1.pem" "$1.pem"
}

fresh_ca=0
if [[ ! -s ca.pem || ! -s ca.key ]]; then
	make_ca
	fresh_ca=1
fi
if ((fresh_ca)) || [[ ! -s server.pem || ! -s server.key ]]; then
	leaf server api.openai.com "$names"
fi
if ((fresh_ca)) || [[ ! -s expired.pem || ! -s expired.key ]]; then
	expired expired api.openai.com "$names"
fi
if ((fresh_ca)) || [[ ! -s wrong.pem || ! -s wrong.key ]]; then
	leaf wrong wrong.example.test "DNS:wrong.example.test"
fi
