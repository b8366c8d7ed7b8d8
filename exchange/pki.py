"""Make a federation's demo PKI: an anchor, and per member a node, operator and signing cert.

This is the only place brandex creates private keys and writes them to disk,
so it lives outside :mod:`exchange.core` (which never touches files). The
verification side, which nodes and auditors run, is :mod:`exchange.core.x509`.

Layout under ``out`` (for example ``certs/yrd``)::

    anchor.pem  anchor.key  federation.json
    <name>/node.pem      <name>/node.key       TLS server + client (ECDSA P-256)
    <name>/operator.pem  <name>/operator.key   operator's TLS client (ECDSA P-256)
    <name>/signing.pem   <name>/signing.key    Ed25519 entry/checkpoint signing key

Private keys are unencrypted PKCS#8 PEM, created with mode 0600 and never
widened. That is acceptable for a demo federation on one machine; a real
agency keeps the anchor key offline (or in an HSM) and each member generates
its own keys and sends only a request.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nacl.signing
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from exchange.core.errors import (
    ConflictError,
    FormatError,
    NotFoundError,
    ValidationError,
)
from exchange.core.regions import validate_region
from exchange.core.x509 import (
    JURISDICTION_URI_PREFIX,
    OPERATOR_URI_PREFIX,
    REGION_URI_PREFIX,
    anchor_jurisdictions,
    region_within,
)

__all__ = [
    "ANCHOR_VALIDITY_YEARS",
    "DEMO_MEMBERS",
    "MEMBER_VALIDITY_YEARS",
    "MemberPaths",
    "add_member",
    "certify_signing_key",
    "init_federation",
    "load_signing_key",
    "member_paths",
    "read_federation",
    "renew_member_tls",
    "revoke_certificate",
]

DEMO_MEMBERS: dict[str, str] = {
    "shanghai": "310000",
    "jiangsu": "320000",
    "zhejiang": "330000",
    "anhui": "340000",
    "henan": "410000",
    "wenzhou": "330300",
    "luyi": "411628",
}
"""The demo federation: the YRD provinces plus a city and a county, and Henan."""

ANCHOR_VALIDITY_YEARS = 10
MEMBER_VALIDITY_YEARS = 2

# Clock skew between machines should not make a fresh certificate "not yet valid".
_BACKDATE = timedelta(hours=1)
_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_FEDERATION_FILE = "federation.json"
_ANCHOR_CERT = "anchor.pem"
_ANCHOR_KEY = "anchor.key"


@dataclass(frozen=True)
class MemberPaths:
    """Where one member's credentials live, so nodes and tests never build paths by hand."""

    node_cert: Path
    node_key: Path
    operator_cert: Path
    operator_key: Path
    signing_cert: Path
    signing_key: Path
    anchor: Path


def member_paths(out: Path, name: str) -> MemberPaths:
    """Return the paths of member ``name``'s files under federation directory ``out``.

    Nothing is checked or read: a node config may name a member whose files are
    created later.
    """
    out = Path(out)
    base = out / name
    return MemberPaths(
        node_cert=base / "node.pem",
        node_key=base / "node.key",
        operator_cert=base / "operator.pem",
        operator_key=base / "operator.key",
        signing_cert=base / "signing.pem",
        signing_key=base / "signing.key",
        anchor=out / _ANCHOR_CERT,
    )


# --- validation -------------------------------------------------------------------------


def _check_name(kind: str, name: str) -> None:
    # Member names become directory names: refuse anything that could escape `out`.
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ValidationError(
            kind,
            "must be lowercase ASCII letters, digits, '-' or '_', starting with a letter",
            name,
        )


def _check_hosts(hosts: Iterable[str]) -> list[str]:
    if isinstance(hosts, str):  # one name, not a sequence of one-letter names
        hosts = [hosts]
    checked: list[str] = []
    for host in hosts:
        if not isinstance(host, str) or not host or host != host.strip() or "/" in host:
            raise ValidationError("host", "must be a DNS name or an IP address", host)
        if host not in checked:
            checked.append(host)
    return checked


def _check_within(region: str, jurisdictions: Sequence[str], anchor_name: str) -> None:
    if not any(region_within(region, j) for j in jurisdictions):
        raise ValidationError(
            "region",
            f"not within anchor {anchor_name!r} jurisdictions [{', '.join(jurisdictions)}]",
            region,
        )


def _check_distinct_regions(members: Mapping[str, str]) -> None:
    seen: dict[str, str] = {}
    for name, region in members.items():
        if region in seen:
            raise ConflictError(
                f"members {seen[region]!r} and {name!r} both claim region {region};"
                " one node per region"
            )
        seen[region] = name


# --- certificate building -----------------------------------------------------------------


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now.astimezone(UTC)


def _add_years(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February in a non-leap target year
        return moment.replace(year=moment.year + years, day=28)


def _cn(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _anchor_name(federation: str) -> str:
    return f"brandex {federation} anchor"


@dataclass(frozen=True)
class _Issuer:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _make_anchor(federation: str, jurisdictions: Sequence[str], now: datetime) -> _Issuer:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _cn(_anchor_name(federation))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(_add_years(now, ANCHOR_VALIDITY_YEARS))
        # pathLen 0: this tooling issues members directly; no intermediate may appear.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(JURISDICTION_URI_PREFIX + j) for j in jurisdictions]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _Issuer(cert, key)


def _digital_signature_only() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _issue(
    issuer: _Issuer,
    subject: str,
    public_key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey,
    sans: list[x509.GeneralName],
    eku: list[x509.ObjectIdentifier] | None,
    now: datetime,
) -> x509.Certificate:
    # A member certificate must not outlive the anchor that vouches for it.
    not_after = min(_add_years(now, MEMBER_VALIDITY_YEARS), issuer.cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_cn(subject))
        .issuer_name(issuer.cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_digital_signature_only(), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return builder.sign(issuer.key, hashes.SHA256())


def _host_sans(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    ips: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    for host in hosts:
        try:
            ip = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            dns = x509.DNSName(host)
            if dns not in names:
                names.append(dns)
        else:
            if ip not in ips:
                ips.append(ip)
    return names + ips


def _key_pem(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),  # demo federation: see the module docstring
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _member_files(
    issuer: _Issuer, name: str, region: str, hosts: Sequence[str], now: datetime
) -> dict[str, bytes]:
    """Return {file name: contents} for one member; nothing is written here."""
    files = _tls_files(issuer, name, region, hosts, now)
    signing_key = ed25519.Ed25519PrivateKey.generate()
    signing = _issue(
        issuer,
        f"brandex signing key {region}",
        signing_key.public_key(),
        [x509.UniformResourceIdentifier(REGION_URI_PREFIX + region)],
        None,
        now,
    )
    return {
        **files,
        "signing.pem": _cert_pem(signing),
        "signing.key": _key_pem(signing_key),
    }


def _tls_files(
    issuer: _Issuer, name: str, region: str, hosts: Sequence[str], now: datetime
) -> dict[str, bytes]:
    """A member's node (server and client) and operator (client) keys and certificates."""
    node_key = ec.generate_private_key(ec.SECP256R1())
    node = _issue(
        issuer,
        f"brandex node {region} {name}",
        node_key.public_key(),
        [x509.UniformResourceIdentifier(REGION_URI_PREFIX + region), *_host_sans(hosts)],
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        now,
    )
    operator_key = ec.generate_private_key(ec.SECP256R1())
    operator = _issue(
        issuer,
        f"brandex operator {region} {name}",
        operator_key.public_key(),
        [x509.UniformResourceIdentifier(OPERATOR_URI_PREFIX + region)],
        [ExtendedKeyUsageOID.CLIENT_AUTH],
        now,
    )
    return {
        "node.pem": _cert_pem(node),
        "node.key": _key_pem(node_key),
        "operator.pem": _cert_pem(operator),
        "operator.key": _key_pem(operator_key),
    }


# --- file writing -------------------------------------------------------------------------


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` atomically, the file born with ``mode``.

    The temporary file is created by ``os.open`` with the final mode, so a key
    is never readable by others, not even for an instant, and a crash leaves
    either the old file or the new one, never half a key.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue
        break
    else:  # pragma: no cover
        raise OSError(f"could not create a temporary file next to {path}")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _write_member(out: Path, name: str, files: Mapping[str, bytes]) -> None:
    for filename, data in files.items():
        _write(out / name / filename, data, 0o600 if filename.endswith(".key") else 0o644)


def _write_federation(out: Path, doc: Mapping[str, Any]) -> None:
    text = json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=False) + "\n"
    _write(out / _FEDERATION_FILE, text.encode("utf-8"), 0o644)


# --- public API ---------------------------------------------------------------------------


def init_federation(
    out: Path,
    federation: str,
    members: Mapping[str, str],
    jurisdictions: Sequence[str] | None = None,
    hosts: Sequence[str] = (),
    force: bool = False,
    now: datetime | None = None,
) -> None:
    """Create a federation's anchor and every member's credentials under ``out``.

    Everything is validated and generated in memory before the first file is
    written, so a typo in one region does not leave half a federation behind.
    ``federation.json`` is written last: its presence means the set is complete.

    Args:
        out: the federation directory (e.g. ``certs/yrd``); created if missing.
        federation: short name (e.g. ``yrd``); it goes into the anchor's CN.
        members: member name -> region code; one member per region.
        jurisdictions: regions the anchor may certify; by default the distinct
            provinces (``XX0000``) of the members' regions.
        hosts: extra DNS names or IP addresses for every node certificate
            (``localhost`` and ``127.0.0.1`` are always present).
        force: replace an existing anchor (and the listed members' files).
            Member directories of an older federation that are not listed are
            left alone; they no longer chain to the new anchor.
        now: issuance time (timezone-aware); defaults to the current time.

    Raises:
        ValidationError: a malformed name, unknown region code, bad host, or a
            member outside the jurisdictions.
        ConflictError: an anchor already exists and ``force`` is false, or two
            members share a region.
    """
    out = Path(out)
    moment = _now(now)
    _check_name("federation", federation)
    if not members:
        raise ValidationError("members", "a federation needs at least one member", members)
    for name, region in members.items():
        _check_name("member", name)
        validate_region(region, f"member {name} region")
    _check_distinct_regions(members)
    if jurisdictions is None:
        jurisdictions = sorted({region[:2] + "0000" for region in members.values()})
    juris = list(dict.fromkeys(jurisdictions))
    if not juris:
        raise ValidationError("jurisdictions", "an anchor needs at least one jurisdiction", juris)
    for code in juris:
        validate_region(code, "jurisdiction")
    for region in members.values():
        _check_within(region, juris, _anchor_name(federation))
    host_list = _check_hosts(hosts)

    existing = [p for p in (_ANCHOR_CERT, _ANCHOR_KEY, _FEDERATION_FILE) if (out / p).exists()]
    if existing and not force:
        raise ConflictError(
            f"{out} already holds a federation ({', '.join(existing)});"
            " refusing to overwrite its anchor without force"
        )

    anchor = _make_anchor(federation, juris, moment)
    member_files = {
        name: _member_files(anchor, name, region, host_list, moment)
        for name, region in members.items()
    }

    _write(out / _ANCHOR_KEY, _key_pem(anchor.key), 0o600)
    _write(out / _ANCHOR_CERT, _cert_pem(anchor.cert), 0o644)
    for name, files in member_files.items():
        _write_member(out, name, files)
    _write_federation(
        out,
        {
            "federation": federation,
            "jurisdictions": juris,
            "members": {name: {"region": region} for name, region in members.items()},
        },
    )


def read_federation(out: Path) -> dict[str, Any]:
    """Read and sanity-check ``federation.json`` under ``out``.

    Returns:
        ``{"federation": str, "jurisdictions": [codes], "members": {name: {"region": code}}}``.

    Raises:
        NotFoundError: if ``out`` holds no federation.
        FormatError: if the file is not the expected JSON shape.
    """
    path = Path(out) / _FEDERATION_FILE
    try:
        doc = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise NotFoundError(f"no federation in {out} (missing {_FEDERATION_FILE})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{path}: not valid JSON: {exc}") from None
    members = doc.get("members") if isinstance(doc, dict) else None
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("federation"), str)
        or not isinstance(doc.get("jurisdictions"), list)
        or not isinstance(members, dict)
        or not all(
            isinstance(m, dict) and isinstance(m.get("region"), str) for m in members.values()
        )
    ):
        raise FormatError(
            f"{path}: expected {{'federation', 'jurisdictions', 'members': {{name: {{'region'}}}}}}"
        )
    return doc


def _load_issuer(out: Path) -> _Issuer:
    cert_path, key_path = out / _ANCHOR_CERT, out / _ANCHOR_KEY
    try:
        cert_pem, key_pem = cert_path.read_bytes(), key_path.read_bytes()
    except FileNotFoundError as exc:
        raise NotFoundError(f"no anchor in {out} (missing {Path(exc.filename).name})") from None
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise FormatError(f"{out}: cannot read the anchor: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise FormatError(f"{key_path} is not the private key of {cert_path}")
    return _Issuer(cert, key)


def add_member(
    out: Path,
    name: str,
    region: str,
    hosts: Sequence[str] = (),
    now: datetime | None = None,
) -> None:
    """Issue credentials for a new member with the federation's anchor key.

    The anchor certificate, not ``federation.json``, decides what may be
    certified: a certificate outside the anchor's jurisdictions would be
    rejected by every verifier anyway, so it is refused here with the reason.

    Args:
        out: the federation directory made by :func:`init_federation`.
        name: the new member's name (becomes ``out/<name>/``).
        region: its GB/T 2260 region code.
        hosts: extra DNS names or IP addresses for its node certificate.
        now: issuance time (timezone-aware); defaults to the current time.

    Raises:
        NotFoundError: ``out`` holds no federation or no anchor key.
        ValidationError: malformed name, unknown region, bad host, or a region
            outside the anchor's jurisdictions.
        ConflictError: the name or the region is already a member, or the
            member directory already holds files.
    """
    out = Path(out)
    moment = _now(now)
    _check_name("member", name)
    validate_region(region, "region")
    host_list = _check_hosts(hosts)
    doc = read_federation(out)
    issuer = _load_issuer(out)
    anchor_cn = issuer.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    label = str(anchor_cn[0].value) if anchor_cn else issuer.cert.subject.rfc4514_string()
    _check_within(region, anchor_jurisdictions(issuer.cert), label)

    members: dict[str, dict[str, str]] = doc["members"]
    if name in members:
        raise ConflictError(f"member {name!r} already exists (region {members[name]['region']})")
    for other, entry in members.items():
        if entry["region"] == region:
            raise ConflictError(f"region {region} already belongs to member {other!r}")
    paths = member_paths(out, name)
    present = [
        p.name
        for p in (
            paths.node_cert,
            paths.node_key,
            paths.operator_cert,
            paths.operator_key,
            paths.signing_cert,
            paths.signing_key,
        )
        if p.exists()
    ]
    if present:
        raise ConflictError(f"{out / name} already holds {', '.join(sorted(present))}")

    _write_member(out, name, _member_files(issuer, name, region, host_list, moment))
    members[name] = {"region": region}
    _write_federation(out, doc)


def renew_member_tls(
    out: Path, name: str, hosts: Sequence[str] = (), now: datetime | None = None
) -> list[Path]:
    """New node and operator keys and certificates for member ``name`` (before expiry).

    The host names and addresses of the current node certificate are kept (plus
    ``hosts``). Each replaced file is kept beside the new one as ``<file>.old``,
    so the old certificate can be revoked (``brandex certs revoke``) once every
    node runs with the new one. The signing key is renewed by rotating it
    (``brandex keys rotate``), never here. Returns the paths written.

    Raises:
        NotFoundError: no federation, anchor or member ``name`` in ``out``.
    """
    out = Path(out)
    moment = _now(now)
    doc = read_federation(out)
    if name not in doc["members"]:
        raise NotFoundError(f"{out} has no member {name!r}")
    region = doc["members"][name]["region"]
    issuer = _load_issuer(out)
    paths = member_paths(out, name)
    kept: list[str] = []
    if paths.node_cert.exists():
        current = x509.load_pem_x509_certificate(paths.node_cert.read_bytes())
        try:
            sans = current.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            sans = x509.SubjectAlternativeName([])
        kept = [str(v) for v in sans.get_values_for_type(x509.DNSName)]
        kept += [str(v) for v in sans.get_values_for_type(x509.IPAddress)]
    files = _tls_files(issuer, name, region, _check_hosts([*kept, *hosts]), moment)
    written = []
    for filename in files:
        path = out / name / filename
        if path.exists():
            mode = 0o600 if filename.endswith(".key") else 0o644
            _write(path.with_name(filename + ".old"), path.read_bytes(), mode)
        written.append(path)
    _write_member(out, name, files)
    return written


def certify_signing_key(
    out: Path, name: str, dest: Path, now: datetime | None = None
) -> tuple[Path, Path]:
    """Make a new signing key for member ``name``, certified by the anchor in ``out``.

    For a key rotation: the key and its certificate are written to ``dest``
    (``signing-<keyid prefix>.key`` and ``.pem``, the key 0600), beside the key
    in use, which is not touched. Returns (key path, certificate path).

    Raises:
        NotFoundError: no federation, anchor or member ``name`` in ``out``.
    """
    out, dest = Path(out), Path(dest)
    moment = _now(now)
    doc = read_federation(out)
    if name not in doc["members"]:
        raise NotFoundError(f"{out} has no member {name!r}")
    region = doc["members"][name]["region"]
    issuer = _load_issuer(out)
    key = ed25519.Ed25519PrivateKey.generate()
    cert = _issue(
        issuer,
        f"brandex signing key {region}",
        key.public_key(),
        [x509.UniformResourceIdentifier(REGION_URI_PREFIX + region)],
        None,
        moment,
    )
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    stem = f"signing-{hashlib.sha256(raw).hexdigest()[:12]}"
    dest.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = dest / f"{stem}.key", dest / f"{stem}.pem"
    _write(key_path, _key_pem(key), 0o600)
    _write(cert_path, _cert_pem(cert), 0o644)
    return key_path, cert_path


#: The revocation list's name in the federation directory (nodes name it in ``[tls] crl``).
CRL_FILE = "revoked.crl"


def revoke_certificate(
    out: Path, cert_pem: bytes, reason: str = "", now: datetime | None = None
) -> tuple[Path, int]:
    """Add a certificate to the anchor's revocation list ``out/revoked.crl`` (PEM).

    Signed with the anchor key, valid for a year (the anchor re-issues it
    before then); the serials already listed stay. Returns (path, serial).

    Raises:
        NotFoundError: no anchor in ``out``.
        FormatError: ``cert_pem`` is not a certificate the anchor issued.
    """
    out = Path(out)
    moment = _now(now)
    issuer = _load_issuer(out)
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise FormatError(f"not a PEM certificate: {exc}") from None
    if cert.issuer != issuer.cert.subject:
        raise FormatError(f"{cert.subject.rfc4514_string()} was not issued by this anchor")
    path = out / CRL_FILE
    revoked: list[x509.RevokedCertificate] = []
    if path.exists():
        revoked = list(x509.load_pem_x509_crl(path.read_bytes()))
    if cert.serial_number not in {r.serial_number for r in revoked}:
        revoked.append(
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(moment)
            .build()
        )
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(moment - _BACKDATE)
        .next_update(moment + timedelta(days=365))
    )
    for r in revoked:
        builder = builder.add_revoked_certificate(r)
    crl = builder.sign(issuer.key, hashes.SHA256())
    _write(path, crl.public_bytes(serialization.Encoding.PEM), 0o644)
    return path, cert.serial_number


def load_signing_key(path: Path) -> nacl.signing.SigningKey:
    """Load a member's Ed25519 signing key (PKCS#8 PEM) as a PyNaCl key.

    Keys are stored in the standard PKCS#8 form so that openssl and other tools
    can inspect them; signing itself uses PyNaCl, so the raw 32-byte seed is
    handed across here.

    Raises:
        NotFoundError: the file does not exist.
        FormatError: it is not an unencrypted Ed25519 PKCS#8 PEM key.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"no signing key at {path}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise FormatError(f"{path}: not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise FormatError(f"{path}: holds a {type(key).__name__}, not an Ed25519 key")
    return nacl.signing.SigningKey(key.private_bytes_raw())
