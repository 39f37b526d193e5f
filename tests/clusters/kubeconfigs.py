"""Kubeconfig texts for tests: variations of a real one, and broken ones."""

from __future__ import annotations

import base64
import datetime

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def minimal(server: str = "https://127.0.0.1:1", contexts: tuple[str, ...] = ("main",)) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}
            ],
            "users": [{"name": "u", "user": {"token": "some-token"}}],
            "contexts": [{"name": n, "context": {"cluster": "c", "user": "u"}} for n in contexts],
            "current-context": contexts[0],
        }
    )


def other_ca_pem() -> bytes:
    """A CA certificate that signed nothing the test bed serves."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not-the-cluster-ca")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def with_wrong_ca(text: str) -> str:
    data = yaml.safe_load(text)
    for entry in data["clusters"]:
        entry["cluster"]["certificate-authority-data"] = base64.b64encode(other_ca_pem()).decode()
    return yaml.safe_dump(data)


def with_token(text: str, token: str) -> str:
    data = yaml.safe_load(text)
    for entry in data["users"]:
        entry["user"] = {"token": token}
    return yaml.safe_dump(data)


def with_extra_context(text: str, name: str) -> str:
    data = yaml.safe_load(text)
    data["contexts"].append({"name": name, "context": dict(data["contexts"][0]["context"])})
    data["contexts"][-1]["context"]["cluster"] = "nowhere"
    return yaml.safe_dump(data)
