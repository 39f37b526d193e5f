#!/usr/bin/env bash
# Creates (once) the test bed's PKI in the directory given: a CA, the API server's serving certificate,
# the stand-in kubelet's serving certificate and the service-account signing key pair.
# Tokens are not here: each test session writes its own random static-token file.
set -euo pipefail
DIR=$1
[ -f "$DIR/.complete" ] && exit 0
mkdir -p "$DIR"
cd "$DIR"
rm -f ./*.crt ./*.key ./*.pub ./*.csr ./*.ext ./*.srl

openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
  -subj "/CN=controlpanel-testbed-ca" 2>/dev/null

issue() { # name CN subjectAltName
  printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' "$3" >"$1.ext"
  openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 3650 \
    -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
issue apiserver kube-apiserver \
  "IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
issue kubelet standin-kubelet "IP:127.0.0.1,DNS:localhost"

openssl genrsa -out sa.key 2048 2>/dev/null
openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
chmod 600 ./*.key
touch .complete
