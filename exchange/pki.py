"""Make a federation's demo PKI: an anchor, and per member a node, operator and signing cert.

This is the only place brandex creates private keys and writes them to disk,
so it lives outside :mod:`exchange.core` (which never touches files). The
verification side, which nodes and auditors run, is :mod:`exchange.core.x509`.

Layout under ``out`` (for example ``certs/yrd``)::

    anchor.pem  anchor.key  federation.json
    <name>/node.pem      <name>/node.key       TLS server + client (ECDSA P-256)
    <name>/operator.pem  <name>/operator.key   operator's TLS client (ECDSA P-256)
    <name>/staff.pem     <name>/staff.key      staff's read-only TLS client (the console)
    <name>/signing.pem   <name>/signing.key    Ed25519 entry/checkpoint signing key
    <name>/governance.pub <name>/governance.key Ed25519 key for federation changes
    <name>/request.json  <name>/anchor.pem     what the member asked; the anchor it installed

A member joins in three steps (the formats are in :mod:`exchange.pki_request`):
:func:`request_certificates` makes its private keys and ``request.json`` in its
own directory; :func:`sign_request`, run by the anchor's holder, checks the
request and answers with ``response.json``; :func:`install_certificates` checks
that answer against the member's keys and writes the certificates beside them.
:func:`init_federation` and :func:`add_member` run the same three steps in
memory, so there is one way a member certificate comes to be.

Private keys are unencrypted PKCS#8 PEM, created with mode 0600 and never
widened. That is acceptable for a demo federation on one machine; a real
agency keeps the anchor key offline (or in an HSM), and its governance key too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nacl.signing
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from exchange.core.errors import (
    ConflictError,
    FormatError,
    NotFoundError,
    ValidationError,
    VerificationError,
)
from exchange.core.regions import validate_region
from exchange.core.x509 import (
    JURISDICTION_URI_PREFIX,
    STAFF_URI_PREFIX,
    anchor_jurisdictions,
    cert_operator_region,
    cert_region,
    region_within,
    verify_chain,
)
from exchange.files import write_atomic
from exchange.pki_request import (
    MAX_FILE_BYTES,
    ROLES,
    CertRequest,
    build_request,
    build_response,
    check_hosts,
    check_name,
    expected_sans,
    expected_subject,
    parse_request,
    parse_response,
)

__all__ = [
    "ANCHOR_VALIDITY_YEARS",
    "DEMO_MEMBERS",
    "MEMBER_VALIDITY_YEARS",
    "MemberPaths",
    "add_member",
    "certify_signing_key",
    "forget_member",
    "init_federation",
    "install_certificates",
    "issue_staff_certificate",
    "load_governance_key",
    "load_signing_key",
    "member_paths",
    "read_federation",
    "renew_member_tls",
    "request_certificates",
    "revoke_certificate",
    "sign_request",
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
    governance_key: Path
    governance_pub: Path
    request: Path
    response: Path
    installed_anchor: Path
    """The anchor certificate as ``certs install`` wrote it beside the member's keys."""


def member_paths(out: Path, name: str) -> MemberPaths:
    """Return the paths of member ``name``'s files under federation directory ``out``.

    Nothing is checked or read: a node config may name a member whose files are
    created later. ``anchor`` is the federation's ``out/anchor.pem``;
    ``installed_anchor`` is the copy an agency keeps in its own directory.
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
        governance_key=base / "governance.key",
        governance_pub=base / "governance.pub",
        request=base / "request.json",
        response=base / "response.json",
        installed_anchor=base / _ANCHOR_CERT,
    )


def _own_paths(member_dir: Path) -> MemberPaths:
    """The member files inside an agency's own directory (``certs request --out DIR``)."""
    member_dir = Path(member_dir).absolute()
    return member_paths(member_dir.parent, member_dir.name)


# Which MemberPaths field holds each role's private key and certificate.
_KEY_FIELD = {"node": "node_key", "operator": "operator_key", "signing": "signing_key"}
_CERT_FIELD = {"node": "node_cert", "operator": "operator_cert", "signing": "signing_cert"}


# --- validation -------------------------------------------------------------------------


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


def _key_pem(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),  # demo federation: see the module docstring
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


_EKU: dict[str, list[x509.ObjectIdentifier] | None] = {
    "node": [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
    "operator": [ExtendedKeyUsageOID.CLIENT_AUTH],
    "staff": [ExtendedKeyUsageOID.CLIENT_AUTH],
    "signing": None,
}


def _public_pem(key: ed25519.Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# --- the three steps, in memory ----------------------------------------------------------------
# Each returns {MemberPaths field: file contents}; writing is the caller's last act, so a
# refusal at any step leaves nothing behind.


def _new_request(name: str, region: str, hosts: Sequence[str]) -> dict[str, bytes]:
    """Step 1 (the member): fresh private keys and the request that proves possession of them."""
    keys: dict[str, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey] = {
        "node": ec.generate_private_key(ec.SECP256R1()),
        "operator": ec.generate_private_key(ec.SECP256R1()),
        "signing": ed25519.Ed25519PrivateKey.generate(),
    }
    governance = ed25519.Ed25519PrivateKey.generate()
    files = {_KEY_FIELD[role]: _key_pem(keys[role]) for role in ROLES}
    files["governance_key"] = _key_pem(governance)
    files["governance_pub"] = _public_pem(governance)
    files["request"] = build_request(keys, governance, name, region, hosts)
    return files


def _tls_files(
    issuer: _Issuer, name: str, region: str, hosts: Sequence[str], now: datetime
) -> dict[str, bytes]:
    """A member's node (server and client) and operator (client) keys and certificates."""
    node_key = ec.generate_private_key(ec.SECP256R1())
    node = _issue(
        issuer,
        f"brandex node {region} {name}",
        node_key.public_key(),
        expected_sans("node", region, hosts),
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        now,
    )
    operator_key = ec.generate_private_key(ec.SECP256R1())
    operator = _issue(
        issuer,
        f"brandex operator {region} {name}",
        operator_key.public_key(),
        expected_sans("operator", region, ()),
        [ExtendedKeyUsageOID.CLIENT_AUTH],
        now,
    )
    return {
        "node.pem": _cert_pem(node),
        "node.key": _key_pem(node_key),
        "operator.pem": _cert_pem(operator),
        "operator.key": _key_pem(operator_key),
    }


def _anchor_label(anchor: x509.Certificate) -> str:
    cn = anchor.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cn[0].value) if cn else anchor.subject.rfc4514_string()


def _check_new_member(
    doc: Mapping[str, Any], name: str, region: str, governance_hex: str | None = None
) -> None:
    """Refuse a name, region or governance key that already belongs to a member."""
    members: Mapping[str, Mapping[str, str]] = doc["members"]
    if name in members:
        raise ConflictError(f"member {name!r} already exists (region {members[name]['region']})")
    for other, entry in members.items():
        if entry["region"] == region:
            raise ConflictError(f"region {region} already belongs to member {other!r}")
        if governance_hex is not None and entry.get("governance_key") == governance_hex:
            raise ConflictError(f"the governance key is already member {other!r}'s")


def _sign(
    issuer: _Issuer, doc: Mapping[str, Any], request: bytes, now: datetime
) -> tuple[CertRequest, bytes, dict[str, str]]:
    """Step 2 (the anchor): check ``request`` against the anchor and ``doc``; issue.

    Returns the checked request, the response bytes and the member's entry for
    ``federation.json``; ``doc`` is not changed.
    """
    req = parse_request(request)
    _check_within(req.region, anchor_jurisdictions(issuer.cert), _anchor_label(issuer.cert))
    governance_hex = req.governance_raw.hex()
    _check_new_member(doc, req.name, req.region, governance_hex)
    certs = {
        role: _issue(
            issuer,
            expected_subject(role, req.name, req.region),
            req.csrs[role].public_key(),  # type: ignore[arg-type]  # types checked in parse
            expected_sans(role, req.region, req.hosts),
            _EKU[role],
            now,
        )
        for role in ROLES
    }
    response = build_response(doc["federation"], req.name, req.region, issuer.cert, certs)
    return req, response, {"region": req.region, "governance_key": governance_hex}


def _install(
    keys: Mapping[str, bytes],
    response: bytes,
    request: bytes | None,
    now: datetime,
    expect_anchor: x509.Certificate | None = None,
    where: str = "the member directory",
) -> dict[str, bytes]:
    """Step 3 (the member): check the response against its keys; return the certificate files.

    ``keys`` maps each role to its private key PEM. Every certificate must hold
    that key's public half and chain to the response's anchor (which must be
    ``expect_anchor`` when given) within its jurisdictions, for the region and
    name the member asked for (``request``, when it is at hand).
    """
    resp = parse_response(response)
    # The anchor is installed as the member's trust root: a changed byte in it
    # (its jurisdictions, say) must be caught even when no anchor is pinned.
    try:
        resp.anchor.verify_directly_issued_by(resp.anchor)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        raise VerificationError(
            f"the response's anchor {_anchor_label(resp.anchor)!r} is not validly self-signed"
        ) from None
    if expect_anchor is not None and resp.anchor != expect_anchor:
        raise VerificationError(
            f"the response's anchor {_anchor_label(resp.anchor)!r} is not the anchor you trust"
            f" ({_anchor_label(expect_anchor)!r})"
        )
    if request is not None:
        asked = parse_request(request)
        if (asked.name, asked.region) != (resp.name, resp.region):
            raise ValidationError(
                "response",
                f"is for {resp.name!r} in {resp.region}, but {where} asked for"
                f" {asked.name!r} in {asked.region}",
            )
    for role in ROLES:
        cert = resp.certificates[role]
        try:
            key = serialization.load_pem_private_key(keys[role], password=None)
        except (ValueError, TypeError) as exc:
            raise FormatError(f"{where}: cannot read the {role} key: {exc}") from None
        try:
            matches = key.public_key() == cert.public_key()
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise FormatError(f"the {role} certificate's key cannot be read: {exc}") from None
        if not matches:
            raise VerificationError(
                f"the {role} certificate is not for the {role} key in {where}"
                " (a response for other keys, or keys made again since the request)"
            )
        try:
            verify_chain(cert, [], [resp.anchor], at=now)
        except VerificationError as exc:
            raise VerificationError(f"the {role} certificate: {exc}") from None
        named = cert_operator_region(cert) if role == "operator" else cert_region(cert)
        if named != resp.region:
            raise VerificationError(
                f"the {role} certificate names region {named}, not {resp.region}"
            )
    files = {_CERT_FIELD[role]: _cert_pem(resp.certificates[role]) for role in ROLES}
    files["installed_anchor"] = _cert_pem(resp.anchor)
    return files


# --- file writing -------------------------------------------------------------------------


def issue_staff_certificate(
    anchor_dir: Path, region: str, dest: Path, label: str = "", now: datetime | None = None
) -> tuple[Path, Path]:
    """A read-only staff client certificate for ``region`` (``urn:brandex:staff:R``),
    issued by the anchor in ``anchor_dir``: ``dest/staff.key`` (0600) and ``staff.pem``.

    The staff console presents it to its node: it may call the read RPCs and
    nothing that writes (exchange.node.service_base). An existing pair in ``dest``
    is replaced (re-issue); revoke the old certificate with ``certs revoke``.

    Raises:
        NotFoundError: no anchor key in ``anchor_dir``.
        ValidationError: unknown region, or one outside the anchor's jurisdictions.
    """
    moment = _now(now)
    validate_region(region, "region")
    issuer = _load_issuer(Path(anchor_dir))
    _check_within(region, anchor_jurisdictions(issuer.cert), _anchor_label(issuer.cert))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _issue(
        issuer,
        f"brandex staff {region} {label}".strip(),
        key.public_key(),
        [x509.UniformResourceIdentifier(STAFF_URI_PREFIX + region)],
        _EKU["staff"],
        moment,
    )
    dest = Path(dest)
    key_path, cert_path = dest / "staff.key", dest / "staff.pem"
    write_atomic(key_path, _key_pem(key), 0o600)
    write_atomic(cert_path, _cert_pem(cert), 0o644)
    return key_path, cert_path


def _write_files(paths: MemberPaths, files: Mapping[str, bytes]) -> None:
    """Write {MemberPaths field: contents}; private keys 0600, everything else 0644."""
    for field, data in files.items():
        path: Path = getattr(paths, field)
        write_atomic(path, data, 0o600 if path.suffix == ".key" else 0o644)


def _read_limited(path: Path, what: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise NotFoundError(f"no {what} at {path}") from None
    except IsADirectoryError:
        raise FormatError(f"{path} is a directory, not a {what}") from None
    if len(data) > MAX_FILE_BYTES:
        raise FormatError(f"{path}: larger than the {MAX_FILE_BYTES} bytes a {what} may be")
    return data


def _write_federation(out: Path, doc: Mapping[str, Any]) -> None:
    text = json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=False) + "\n"
    write_atomic(out / _FEDERATION_FILE, text.encode("utf-8"), 0o644)


# --- public API ---------------------------------------------------------------------------


def _run_flow(
    issuer: _Issuer,
    doc: dict[str, Any],
    paths: MemberPaths,
    name: str,
    region: str,
    hosts: Sequence[str],
    now: datetime,
) -> dict[str, bytes]:
    """Request, sign and install one member in memory; records it in ``doc``.

    The same three steps the CLI runs across agencies, for the conveniences
    that make a whole demo federation on one machine.
    """
    files = _new_request(name, region, hosts)
    _, response, entry = _sign(issuer, doc, files["request"], now)
    keys = {role: files[_KEY_FIELD[role]] for role in ROLES}
    files.update(
        _install(keys, response, files["request"], now, issuer.cert, str(paths.request.parent))
    )
    doc["members"][name] = entry
    return files


def init_federation(
    out: Path,
    federation: str,
    members: Mapping[str, str],
    jurisdictions: Sequence[str] | None = None,
    hosts: Sequence[str] = (),
    force: bool = False,
    now: datetime | None = None,
) -> None:
    """Create a federation's anchor and, for each listed member, its credentials under ``out``.

    Each member goes through the request/sign/install steps (in memory), so its
    files are exactly those the CLI flow leaves. With no members, only the
    anchor and an empty ``federation.json`` are made (``certs init
    --anchor-only``); agencies then join with ``certs request``/``sign``/``install``.

    Everything is validated and generated in memory before the first file is
    written, so a typo in one region does not leave half a federation behind.
    ``federation.json`` is written last: its presence means the set is complete.

    Args:
        out: the federation directory (e.g. ``certs/yrd``); created if missing.
        federation: short name (e.g. ``yrd``); it goes into the anchor's CN.
        members: member name -> region code; one member per region; may be
            empty when ``jurisdictions`` is given.
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
    check_name("federation", federation)
    if not members and not jurisdictions:
        raise ValidationError(
            "members", "a federation needs at least one member or jurisdiction", members
        )
    for name, region in members.items():
        check_name("member", name)
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
    host_list = check_hosts(hosts)

    existing = [p for p in (_ANCHOR_CERT, _ANCHOR_KEY, _FEDERATION_FILE) if (out / p).exists()]
    if existing and not force:
        raise ConflictError(
            f"{out} already holds a federation ({', '.join(existing)});"
            " refusing to overwrite its anchor without force"
        )

    anchor = _make_anchor(federation, juris, moment)
    doc: dict[str, Any] = {"federation": federation, "jurisdictions": juris, "members": {}}
    member_files = {}
    for name, region in members.items():
        paths = member_paths(out, name)
        member_files[name] = (paths, _run_flow(anchor, doc, paths, name, region, host_list, moment))

    write_atomic(out / _ANCHOR_KEY, _key_pem(anchor.key), 0o600)
    write_atomic(out / _ANCHOR_CERT, _cert_pem(anchor.cert), 0o644)
    for paths, files in member_files.values():
        _write_files(paths, files)
    _write_federation(out, doc)


def forget_member(out: Path, name: str) -> bool:
    """Drop ``name`` from the anchor's record of the members it certified.

    Its certificates stay valid until they expire or are revoked: membership
    itself is decided by the federation document, not by this record. Used when
    an enrolment is redone (the demo's Jiangxi, on every run). Returns whether
    it was there.
    """
    doc = read_federation(out)
    if doc["members"].pop(name, None) is None:
        return False
    _write_federation(Path(out), doc)
    return True


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
    """Make a new member's keys and certificates in ``out/<name>/`` on the anchor's machine.

    A convenience for demos and tests: the member's request, the anchor's checks
    and the install run in memory, the same steps as ``certs request``/``sign``/
    ``install``. The anchor certificate, not ``federation.json``, decides what
    may be certified: a certificate outside the anchor's jurisdictions would be
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
    check_name("member", name)
    validate_region(region, "region")
    host_list = check_hosts(hosts)
    doc = read_federation(out)
    issuer = _load_issuer(out)
    _check_within(region, anchor_jurisdictions(issuer.cert), _anchor_label(issuer.cert))
    _check_new_member(doc, name, region)
    paths = member_paths(out, name)
    present = _present(paths, (*_KEY_FIELD.values(), *_CERT_FIELD.values(), "governance_key"))
    if present:
        raise ConflictError(f"{out / name} already holds {', '.join(sorted(present))}")
    files = _run_flow(issuer, doc, paths, name, region, host_list, moment)
    _write_files(paths, files)
    _write_federation(out, doc)


def _present(paths: MemberPaths, fields: Iterable[str]) -> list[str]:
    return [getattr(paths, f).name for f in fields if getattr(paths, f).exists()]


def request_certificates(
    member_dir: Path,
    name: str,
    region: str,
    hosts: Sequence[str] = (),
    force: bool = False,
) -> MemberPaths:
    """Step 1, run by the joining agency: its private keys and ``request.json`` in ``member_dir``.

    Writes node.key, operator.key (ECDSA P-256), signing.key and governance.key
    (Ed25519), all 0600, governance.pub, and request.json: the only file that
    leaves the agency. Returns the member's paths.

    Raises:
        ValidationError: malformed name, unknown region or bad host.
        ConflictError: ``member_dir`` already holds keys and ``force`` is false.
    """
    check_name("member", name)
    validate_region(region, "region")
    host_list = check_hosts(hosts)
    paths = _own_paths(member_dir)
    present = _present(paths, (*_KEY_FIELD.values(), "governance_key"))
    if present and not force:
        raise ConflictError(
            f"{member_dir} already holds {', '.join(sorted(present))};"
            " refusing to replace private keys without force"
        )
    _write_files(paths, _new_request(name, region, host_list))
    return paths


def sign_request(
    anchor_dir: Path, request: Path, response: Path, now: datetime | None = None
) -> CertRequest:
    """Step 2, run by the anchor's holder: check ``request``, issue, and write ``response``.

    Everything in the request is checked before anything is issued (see
    :func:`exchange.pki_request.parse_request`), then the region against the
    anchor's jurisdictions and the name, region and governance key against the
    members in ``federation.json``. The response is written before the member
    is recorded, so a failed write leaves the federation unchanged.

    Raises:
        NotFoundError: no request file, federation or anchor.
        FormatError, ValidationError, VerificationError: the request is refused.
        ConflictError: the name, region or governance key is already a member's.
    """
    anchor_dir = Path(anchor_dir)
    moment = _now(now)
    data = _read_limited(Path(request), "certificate request")
    doc = read_federation(anchor_dir)
    issuer = _load_issuer(anchor_dir)
    req, response_bytes, entry = _sign(issuer, doc, data, moment)
    write_atomic(Path(response), response_bytes, 0o644)
    doc["members"][req.name] = entry
    _write_federation(anchor_dir, doc)
    return req


def install_certificates(
    member_dir: Path,
    response: Path,
    anchor: Path | None = None,
    now: datetime | None = None,
) -> MemberPaths:
    """Step 3, run by the agency: check the anchor's response and install the certificates.

    Each certificate must be for the private key of its role in ``member_dir``
    and chain to the response's anchor (and that anchor must be ``anchor``'s
    certificate when given: the one the agency obtained out of band). If
    ``member_dir/request.json`` is there, the response must be for the name and
    region it asked. Only then are node.pem, operator.pem, signing.pem and
    anchor.pem written beside the keys.

    Raises:
        NotFoundError: the response or a private key is missing.
        FormatError, ValidationError, VerificationError: the response is refused;
            nothing is written.
    """
    moment = _now(now)
    paths = _own_paths(member_dir)
    data = _read_limited(Path(response), "certificate response")
    keys = {}
    for role in ROLES:
        key_path: Path = getattr(paths, _KEY_FIELD[role])
        try:
            keys[role] = key_path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"no {role} key at {key_path}") from None
    request = paths.request.read_bytes() if paths.request.exists() else None
    expected = None
    if anchor is not None:
        try:
            expected = x509.load_pem_x509_certificate(Path(anchor).read_bytes())
        except FileNotFoundError:
            raise NotFoundError(f"no anchor certificate at {anchor}") from None
        except ValueError as exc:
            raise FormatError(f"{anchor}: not a PEM certificate: {exc}") from None
    files = _install(keys, data, request, moment, expected, str(member_dir))
    _write_files(paths, files)
    return paths


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
    files = _tls_files(issuer, name, region, check_hosts([*kept, *hosts]), moment)
    written = []
    for filename in files:
        path = out / name / filename
        if path.exists():
            mode = 0o600 if filename.endswith(".key") else 0o644
            write_atomic(path.with_name(filename + ".old"), path.read_bytes(), mode)
        written.append(path)
    for filename, data in files.items():
        write_atomic(out / name / filename, data, 0o600 if filename.endswith(".key") else 0o644)
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
        expected_subject("signing", name, region),
        key.public_key(),
        expected_sans("signing", region, ()),
        _EKU["signing"],
        moment,
    )
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    stem = f"signing-{hashlib.sha256(raw).hexdigest()[:12]}"
    dest.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = dest / f"{stem}.key", dest / f"{stem}.pem"
    write_atomic(key_path, _key_pem(key), 0o600)
    write_atomic(cert_path, _cert_pem(cert), 0o644)
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
    write_atomic(path, crl.public_bytes(serialization.Encoding.PEM), 0o644)
    return path, cert.serial_number


def _load_ed25519(path: Path, what: str) -> nacl.signing.SigningKey:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"no {what} at {path}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise FormatError(f"{path}: not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise FormatError(f"{path}: holds a {type(key).__name__}, not an Ed25519 key")
    return nacl.signing.SigningKey(key.private_bytes_raw())


def load_signing_key(path: Path) -> nacl.signing.SigningKey:
    """Load a member's Ed25519 signing key (PKCS#8 PEM) as a PyNaCl key.

    Keys are stored in the standard PKCS#8 form so that openssl and other tools
    can inspect them; signing itself uses PyNaCl, so the raw 32-byte seed is
    handed across here.

    Raises:
        NotFoundError: the file does not exist.
        FormatError: it is not an unencrypted Ed25519 PKCS#8 PEM key.
    """
    return _load_ed25519(path, "signing key")


def load_governance_key(path: Path) -> nacl.signing.SigningKey:
    """Load a member's Ed25519 governance key (PKCS#8 PEM, ``governance.key``) as a PyNaCl key.

    The governance key signs changes to the federation document, never log
    entries; it is a separate key so that a node's online signing key cannot
    change who is a member. Same rules as :func:`load_signing_key`.

    Raises:
        NotFoundError: the file does not exist.
        FormatError: it is not an unencrypted Ed25519 PKCS#8 PEM key.
    """
    return _load_ed25519(path, "governance key")


def certify_origins(
    out: Path, regions: Mapping[str, str], now: datetime | None = None
) -> dict[str, tuple[nacl.signing.SigningKey, str]]:
    """Signing keys and certificates for many origins at once, in memory only.

    For harnesses that build a large federation's logs offline (thousands of
    origins): a real key and a certificate from the anchor in ``out`` for each
    region, exactly as a member's, without the TLS and operator credentials or
    any file (a member's full set costs tens of milliseconds, mostly fsync).

    Returns:
        name -> (signing key, certificate PEM).

    Raises:
        NotFoundError: no federation or anchor in ``out``.
        ValidationError: a region that is unknown or outside the anchor's jurisdictions.
    """
    out = Path(out)
    moment = _now(now)
    issuer = _load_issuer(out)
    anchor_cn = issuer.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    label = str(anchor_cn[0].value) if anchor_cn else issuer.cert.subject.rfc4514_string()
    jurisdictions = anchor_jurisdictions(issuer.cert)
    result = {}
    for name, region in regions.items():
        check_name("member", name)
        validate_region(region, "region")
        _check_within(region, jurisdictions, label)
        key = ed25519.Ed25519PrivateKey.generate()
        cert = _issue(
            issuer,
            f"brandex signing key {region}",
            key.public_key(),
            expected_sans("signing", region, ()),
            None,
            moment,
        )
        raw = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        result[name] = (nacl.signing.SigningKey(raw), _cert_pem(cert).decode())
    return result
