"""A node's federation document chain, and what each accepted version changes.

The node is installed with a bootstrap document (``federation_document`` in its
config): the pinned version. Later versions come from the node's operator
(``brandex federation publish``, which also logs the version in the node's own
log) or from peers (``GetFederation``, polled every sync round and fetched at
once when a peer's watch stream says it holds a newer version), and are
accepted only through :class:`exchange.core.federation.Chain`. Refused
documents are kept as evidence (fork, rollback, invalid) and shown in
``node status``.

An accepted version takes effect without a restart, through the listeners the
node registers: the sync engine peers with the members listed (and stops
pulling from members that left), the caller check admits only members' listed
certificates, the ledger refuses entries a departed member signed after it
left and flags entries signed by keys the document revoked.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from exchange.core import federation as fd
from exchange.core import overlay
from exchange.core.errors import BrandexError, ConflictError, FormatError, VerificationError
from exchange.core.origin import witness_name
from exchange.core.overlay import OverlayMember
from exchange.store import Store
from exchange.store import governance as gstore

__all__ = ["Governance"]

log = logging.getLogger("brandex.governance")


class Governance:
    """The accepted chain, pinned at the bootstrap version; thread-safe."""

    def __init__(
        self,
        store: Store,
        bootstrap: bytes,
        federation: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.clock = clock
        self._lock = threading.Lock()
        self.listeners: list[Callable[[fd.FederationDoc], None]] = []
        self._witness_sets: tuple[int, dict[str, frozenset[str] | None]] = (0, {})
        self._serials: tuple[int, frozenset[int]] = (0, frozenset())
        chain = fd.Chain.pinned(bootstrap)
        if chain.latest.federation != federation:
            raise BrandexError(
                f"the bootstrap federation document is for {chain.latest.federation!r}, "
                f"this node is in {federation!r}"
            )
        pinned = chain.latest
        for version, digest, raw in gstore.documents(self.store):
            if version < pinned.version:
                continue
            if version == pinned.version:
                if digest != pinned.digest:
                    raise BrandexError(
                        f"the database holds another version {version} of the federation "
                        "document than the bootstrap file: a fork of governance"
                    )
                continue
            # Judged as of its own issue time: it was valid when it was accepted.
            chain.offer(raw, fd.parse_document(raw).issued_at)
        with self.store.write() as tx:
            gstore.save_document(tx, pinned.version, pinned.digest, pinned.raw, "bootstrap")
        self.chain = chain

    @property
    def latest(self) -> fd.FederationDoc:
        return self.chain.latest

    def documents_from(self, version: int) -> list[bytes]:
        with self._lock:
            return [d.raw for d in self.chain.docs if d.version >= version]

    # ---------------------------------------------------------------- accepting

    def _evidence(self, raw: bytes, exc: BrandexError, source: str) -> None:
        kind = getattr(exc, "kind", "invalid")  # fd.GovernanceFork / GovernanceRollback
        try:
            doc = fd.parse_document(raw)
            version, digest = doc.version, doc.digest
        except FormatError:
            version, digest = 0, hashlib.sha256(raw).hexdigest()
        with self.store.write() as tx:
            new = gstore.add_evidence(tx, kind, version, digest, raw, str(exc), source)
        if new:
            log.warning("federation document from %s refused (%s): %s", source, kind, exc)

    def _accept(self, doc: fd.FederationDoc, source: str) -> None:
        with self.store.write() as tx:
            gstore.save_document(tx, doc.version, doc.digest, doc.raw, source)
        log.info(
            "federation %s version %d accepted from %s: %d members, threshold %d",
            doc.federation,
            doc.version,
            source,
            len(doc.members),
            doc.threshold,
        )
        for listener in self.listeners:
            try:
                listener(doc)
            except Exception:
                log.exception("applying federation version %d", doc.version)

    def offer(
        self, raws: Iterable[bytes], source: str, cap: int = fd.MAX_WALK
    ) -> list[fd.FederationDoc]:
        """Take what a peer served: walk the chain (at most ``cap`` new versions),
        stopping at the first document refused (kept as evidence)."""
        taken: list[fd.FederationDoc] = []
        with self._lock:
            ordered = []
            for raw in raws:
                try:
                    ordered.append((fd.parse_document(raw).version, raw))
                except FormatError as exc:
                    self._evidence(raw, exc, source)
            for _, raw in sorted(ordered, key=lambda p: p[0]):
                if len(taken) >= cap:
                    break
                try:
                    doc = self.chain.offer(raw, self.clock())
                except (ConflictError, VerificationError, FormatError) as exc:
                    self._evidence(raw, exc, source)
                    break
                if doc is not None:
                    self._accept(doc, source)
                    taken.append(doc)
        return taken

    def publish(self, raw: bytes, source: str = "operator") -> fd.FederationDoc:
        """The operator's publish: exactly the next version, or an error saying why."""
        with self._lock:
            try:
                doc = self.chain.offer(raw, self.clock())
            except (ConflictError, VerificationError, FormatError) as exc:
                self._evidence(raw, exc, source)
                raise
            if doc is None:
                raise ConflictError(
                    f"version {self.latest.version} is already accepted here (same document)"
                )
            self._accept(doc, source)
            return doc

    # ------------------------------------------------------------------ effects

    def admits(self, region: str | None, fingerprint: str, role: str) -> str | None:
        if region is None:
            return None
        return self.latest.admits(region, fingerprint, role)

    def witnesses_of(self, region: str) -> frozenset[str] | None:
        """Witness names that cosign the log of ``region``'s member (bounded witnessing,
        exchange.core.overlay.witnesses), or None when it is not a member."""
        doc = self.latest
        cached = self._witness_sets
        if cached[0] != doc.version:
            cached = self._witness_sets = (doc.version, {})
        sets = cached[1]
        if region not in sets:
            member = doc.member_of_region(region)
            if member is None:
                sets[region] = None
            else:
                members = [OverlayMember(m.name, m.region) for m in doc.members]
                chosen = overlay.witnesses(members, member.name).witnesses
                by_name = {m.name: m.region for m in doc.members}
                sets[region] = frozenset(
                    witness_name(f"{doc.federation}/{by_name[n]}") for n in chosen
                )
        return sets[region]

    def revoked_serials(self) -> frozenset[int]:
        """The document's revoked certificate serials (asked on every call: kept per version)."""
        doc = self.latest
        if self._serials[0] != doc.version:
            self._serials = (doc.version, frozenset(int(s, 16) for s in doc.revoked_certs))
        return self._serials[1]

    def expired(self) -> bool:
        return self.latest.expired(self.clock())

    def left_at(self, region: str) -> datetime | None:
        gone = self.latest.departure(region)
        return gone.at if gone is not None else None

    def warning(self) -> str | None:
        return fd.expiry_warning(self.latest, self.clock())

    def evidence(self) -> list[dict[str, object]]:
        return gstore.evidence(self.store)
