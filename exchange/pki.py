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
memory (:mod:`exchange.pki_enrol`), so there is one way a member certificate
comes to be. Certificates themselves are built in :mod:`exchange.pki_issue`;
this module reads and writes the files around them.

Private keys are unencrypted PKCS#8 PEM, created with mode 0600 and never
widened. That is acceptable for a demo federation on one machine; a real
agency keeps the anchor key offline (or in an HSM), and its governance key too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import nacl.signing
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from exchange.core.errors import (
    ConflictError,
    FormatError,
    NotFoundError,
    ValidationError,
)
from exchange.core.regions import validate_region
from exchange.core.x509 import (
    STAFF_URI_PREFIX,
    anchor_jurisdictions,
)
from exchange.files import write_atomic
from exchange.pki_enrol import (
    CERT_FIELD,
    KEY_FIELD,
    check_new_member,
    install_response,
    new_request,
    run_flow,
    sign_member,
    tls_files,
)
from exchange.pki_issue import (
    ANCHOR_CERT,
    ANCHOR_KEY,
    BACKDATE,
    EKU,
    anchor_label,
    anchor_name,
    cert_to_pem,
    check_within,
    issue_certificate,
    key_to_pem,
    load_issuer,
    make_anchor,
    utc_now,
)
from exchange.pki_request import (
    MAX_FILE_BYTES,
    ROLES,
    CertRequest,
    check_hosts,
    check_name,
    expected_sans,
    expected_subject,
)

__all__ = [
    "DEMO_MEMBERS",
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

_FEDERATION_FILE = "federation.json"


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
        anchor=out / ANCHOR_CERT,
        governance_key=base / "governance.key",
        governance_pub=base / "governance.pub",
        request=base / "request.json",
        response=base / "response.json",
        installed_anchor=base / ANCHOR_CERT,
    )


def _own_paths(member_dir: Path) -> MemberPaths:
    """The member files inside an agency's own directory (``certs request --out DIR``)."""
    member_dir = Path(member_dir).absolute()
    return member_paths(member_dir.parent, member_dir.name)


# --- validation -------------------------------------------------------------------------


def _check_distinct_regions(members: Mapping[str, str]) -> None:
    seen: dict[str, str] = {}
    for name, region in members.items():
        if region in seen:
            raise ConflictError(
                f"members {seen[region]!r} and {name!r} both claim region {region};"
                " one node per region"
            )
        seen[region] = name


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
    moment = utc_now(now)
    validate_region(region, "region")
    issuer = load_issuer(Path(anchor_dir))
    check_within(region, anchor_jurisdictions(issuer.cert), anchor_label(issuer.cert))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = issue_certificate(
        issuer,
        f"brandex staff {region} {label}".strip(),
        key.public_key(),
        [x509.UniformResourceIdentifier(STAFF_URI_PREFIX + region)],
        EKU["staff"],
        moment,
    )
    dest = Path(dest)
    key_path, cert_path = dest / "staff.key", dest / "staff.pem"
    write_atomic(key_path, key_to_pem(key), 0o600)
    write_atomic(cert_path, cert_to_pem(cert), 0o644)
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
    moment = utc_now(now)
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
        check_within(region, juris, anchor_name(federation))
    host_list = check_hosts(hosts)

    existing = [p for p in (ANCHOR_CERT, ANCHOR_KEY, _FEDERATION_FILE) if (out / p).exists()]
    if existing and not force:
        raise ConflictError(
            f"{out} already holds a federation ({', '.join(existing)});"
            " refusing to overwrite its anchor without force"
        )

    anchor = make_anchor(federation, juris, moment)
    doc: dict[str, Any] = {"federation": federation, "jurisdictions": juris, "members": {}}
    member_files = {}
    for name, region in members.items():
        paths = member_paths(out, name)
        member_files[name] = (paths, run_flow(anchor, doc, paths, name, region, host_list, moment))

    write_atomic(out / ANCHOR_KEY, key_to_pem(anchor.key), 0o600)
    write_atomic(out / ANCHOR_CERT, cert_to_pem(anchor.cert), 0o644)
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
    moment = utc_now(now)
    check_name("member", name)
    validate_region(region, "region")
    host_list = check_hosts(hosts)
    doc = read_federation(out)
    issuer = load_issuer(out)
    check_within(region, anchor_jurisdictions(issuer.cert), anchor_label(issuer.cert))
    check_new_member(doc, name, region)
    paths = member_paths(out, name)
    present = _present(paths, (*KEY_FIELD.values(), *CERT_FIELD.values(), "governance_key"))
    if present:
        raise ConflictError(f"{out / name} already holds {', '.join(sorted(present))}")
    files = run_flow(issuer, doc, paths, name, region, host_list, moment)
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
    present = _present(paths, (*KEY_FIELD.values(), "governance_key"))
    if present and not force:
        raise ConflictError(
            f"{member_dir} already holds {', '.join(sorted(present))};"
            " refusing to replace private keys without force"
        )
    _write_files(paths, new_request(name, region, host_list))
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
    moment = utc_now(now)
    data = _read_limited(Path(request), "certificate request")
    doc = read_federation(anchor_dir)
    issuer = load_issuer(anchor_dir)
    req, response_bytes, entry = sign_member(issuer, doc, data, moment)
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
    moment = utc_now(now)
    paths = _own_paths(member_dir)
    data = _read_limited(Path(response), "certificate response")
    keys = {}
    for role in ROLES:
        key_path: Path = getattr(paths, KEY_FIELD[role])
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
    files = install_response(keys, data, request, moment, expected, str(member_dir))
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
    moment = utc_now(now)
    doc = read_federation(out)
    if name not in doc["members"]:
        raise NotFoundError(f"{out} has no member {name!r}")
    region = doc["members"][name]["region"]
    issuer = load_issuer(out)
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
    files = tls_files(issuer, name, region, check_hosts([*kept, *hosts]), moment)
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
    moment = utc_now(now)
    doc = read_federation(out)
    if name not in doc["members"]:
        raise NotFoundError(f"{out} has no member {name!r}")
    region = doc["members"][name]["region"]
    issuer = load_issuer(out)
    key = ed25519.Ed25519PrivateKey.generate()
    cert = issue_certificate(
        issuer,
        expected_subject("signing", name, region),
        key.public_key(),
        expected_sans("signing", region, ()),
        EKU["signing"],
        moment,
    )
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    stem = f"signing-{hashlib.sha256(raw).hexdigest()[:12]}"
    dest.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = dest / f"{stem}.key", dest / f"{stem}.pem"
    write_atomic(key_path, key_to_pem(key), 0o600)
    write_atomic(cert_path, cert_to_pem(cert), 0o644)
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
    moment = utc_now(now)
    issuer = load_issuer(out)
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
        .last_update(moment - BACKDATE)
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
