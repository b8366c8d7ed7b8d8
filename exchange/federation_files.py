"""Federation documents on disk: members described from their certificate files.

The document format and its chain rule live in :mod:`exchange.core.federation`;
this module reads the files an agency holds (its installed certificates and
its governance public key) to describe it as a member, and reads and writes
document files atomically.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from exchange.core import federation as fd
from exchange.core import x509
from exchange.core.dsse import keyid_of
from exchange.core.errors import FormatError, NotFoundError
from exchange.core.origin import witness_name
from exchange.core.policy import default_policy
from exchange.files import write_atomic

__all__ = [
    "GOVERNANCE_KEY",
    "GOVERNANCE_PUB",
    "governance_public_key",
    "member_from_dir",
    "policy_for",
    "read_document",
    "write_document",
]

GOVERNANCE_KEY = "governance.key"
GOVERNANCE_PUB = "governance.pub"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"no file {path}") from None


def governance_public_key(member_dir: Path) -> bytes:
    """The member's governance public key (``governance.pub``, made by ``brandex certs
    request`` beside its other keys), raw 32 bytes."""
    path = Path(member_dir) / GOVERNANCE_PUB
    key = serialization.load_pem_public_key(_read(path))
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise FormatError(f"{path} is not an Ed25519 public key")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _der_fingerprint(path: Path) -> str:
    chain = x509.load_pem_chain(_read(path))
    return fd.cert_fingerprint(chain[0].public_bytes(serialization.Encoding.DER))


def member_from_dir(member_dir: Path, addresses: list[str], name: str | None = None) -> fd.Member:
    """Describe the member whose installed files are in ``member_dir`` (node.pem,
    operator.pem, signing.pem, governance.pub): its region comes from its node
    certificate, the fingerprints and key ids from the files themselves."""
    member_dir = Path(member_dir)
    node = x509.load_pem_chain(_read(member_dir / "node.pem"))[0]
    region = x509.cert_region(node)
    if region is None:
        raise FormatError(f"{member_dir / 'node.pem'} names no region")
    signing = x509.load_pem_chain(_read(member_dir / "signing.pem"))[0]
    raw = signing.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return fd.Member(
        name=name or member_dir.name,
        region=region,
        addresses=tuple(addresses),
        tls_certs=frozenset({_der_fingerprint(member_dir / "node.pem")}),
        operator_certs=frozenset({_der_fingerprint(member_dir / "operator.pem")}),
        signing_keys=frozenset({keyid_of(raw)}),
        governance_key=governance_public_key(member_dir),
    )


def policy_for(federation: str, dirs: dict[str, Path], quorum: int) -> str:
    """'quorum of these members' witnesses', keyed by each member's current signing key."""
    keys = {}
    for member_dir in dirs.values():
        m = member_from_dir(member_dir, [])
        signing = x509.load_pem_chain(_read(Path(member_dir) / "signing.pem"))[0]
        keys[witness_name(f"{federation}/{m.region}")] = signing.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    return default_policy(keys, quorum)


def read_document(path: Path) -> bytes:
    return _read(Path(path))


def write_document(path: Path, raw: bytes) -> None:
    """Write atomically: a reader never sees half a document."""
    write_atomic(Path(path), raw, 0o644)
