#!/usr/bin/env bash
# Generate a CA and a serving certificate for the operators' admission webhooks when
# they run as local processes: SANs 127.0.0.1 and localhost. Writes ca.crt, tls.crt
# and tls.key into DIR; keeps existing files that are still valid for a day.
set -euo pipefail
dir=${1:?usage: $0 DIR}
mkdir -p "$dir"
cd "$dir"
if [ -f tls.crt ] && openssl x509 -checkend 86400 -noout -in tls.crt >/dev/null 2>&1; then
  exit 0
fi
openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=smack-operators webhook CA" \
  -keyout ca.key -out ca.crt 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout tls.key -out tls.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > ext.cnf
openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 -extfile ext.cnf \
  -out tls.crt 2>/dev/null
rm -f tls.csr ext.cnf ca.srl
echo "webhook certificates in $dir" >&2
