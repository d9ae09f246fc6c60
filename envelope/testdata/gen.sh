#!/bin/sh
# Regenerates the golden envelopes in golden/ with implementations other than ours: the
# openssl CLI (this script), Node.js node:crypto (gen.mjs) and, when a JDK is installed, Java's
# javax.crypto (Gen.java). The Go tests only read the committed results.
#
#   sh envelope/testdata/gen.sh        (needs openssl 3, GNU coreutils, node >= 20; java optional)
#
# The key pair is a TEST KEY, committed on purpose; it protects nothing. An existing key is
# kept, so regenerating changes only the ciphertexts (OAEP is randomized).
set -eu
cd "$(dirname "$0")"

KEY=TEST-ONLY-rsa2048-private.pem
PUB=TEST-ONLY-rsa2048-public.pem
[ -f "$KEY" ] || openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$KEY"
openssl pkey -in "$KEY" -pubout -out "$PUB"

mkdir -p golden
rm -f golden/openssl-*
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# seal NAME OAEP_MD MGF1_MD SEGMENT PLAINFILE: split the plaintext into segments of at most
# SEGMENT bytes, encrypt each with its own OAEP block, concatenate, standard base64.
seal() {
	rm -f "$tmp"/seg.* "$tmp/blocks"
	split -b "$4" -a 3 "$5" "$tmp/seg."
	# The empty plaintext is one block that encrypts zero bytes (split writes no file).
	[ -s "$5" ] || : >"$tmp/seg.aaa"
	: >"$tmp/blocks"
	for seg in "$tmp"/seg.*; do
		openssl pkeyutl -encrypt -pubin -inkey "$PUB" \
			-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:"$2" -pkeyopt rsa_mgf1_md:"$3" \
			-in "$seg" >>"$tmp/blocks"
	done
	base64 -w0 <"$tmp/blocks" >"golden/openssl-$1.enc"
	cp "$5" "golden/openssl-$1.plain"
}

seal sha256-mgf1sha256-short sha256 sha256 190 plain/short.json
seal sha256-mgf1sha1-short sha256 sha1 190 plain/short.json
seal sha1-mgf1sha1-short sha1 sha1 214 plain/short.json
seal sha256-mgf1sha256-long sha256 sha256 190 plain/long.json
seal sha256-mgf1sha1-long sha256 sha1 190 plain/long.json
seal sha1-mgf1sha1-long sha1 sha1 214 plain/long.json
seal sha256-mgf1sha256-empty sha256 sha256 190 plain/empty.txt
# Segments shorter than the maximum are fine too.
seal sha1-mgf1sha1-long-seg100 sha1 sha1 100 plain/long.json

node gen.mjs
if command -v java >/dev/null 2>&1; then
	java Gen.java
else
	echo "java not found: golden/java-* left as they are" >&2
fi
