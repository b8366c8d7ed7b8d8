"""The write side of the client: issuing, status changes, cases, agreements, keys, watching.

Each method takes plain values (enumerations by name, dates as ISO text,
amounts in fen), builds the message, checks it against the same core rules the
node applies (``exchange.core.records``) and raises :class:`InvalidRequest`
with every problem before anything is sent; a refusal by the node comes back as
a :class:`~exchange.client.errors.RemoteError`. The caller needs the node's
config (its region is the issuer of whatever it signs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any

import grpc
from google.protobuf.json_format import ParseDict, ParseError

from exchange._proto.brandex.v1 import entries_pb2, services_pb2, services_pb2_grpc
from exchange.client import types as t
from exchange.client.convert import from_message
from exchange.client.errors import InvalidRequest, from_rpc_error, remote_errors
from exchange.core.errors import BrandexError, ValidationError
from exchange.core.records import (
    accession_errors,
    case_action_errors,
    case_errors,
    recognition_errors,
    status_change_errors,
    withdrawal_errors,
)

__all__ = ["WRITE_TIMEOUT", "AdminCalls"]

#: Seconds a write may take (the node signs and waits for its database).
WRITE_TIMEOUT = 60

Fields = dict[str, Any]


def _message(cls: type, fields: Fields | Any, what: str) -> Any:
    """``fields`` (proto field names; enum names or numbers) as a ``cls`` message."""
    if not isinstance(fields, dict):  # already a message (rows the spreadsheet parser built)
        return fields
    try:
        return ParseDict(fields, cls())
    except ParseError as exc:
        raise InvalidRequest([ValidationError(what, str(exc))]) from None


class AdminCalls:
    """Mixed into :class:`exchange.client.NodeClient`: the operator's calls."""

    channel: grpc.Channel
    config: Any

    @property
    def _admin(self) -> Any:
        return services_pb2_grpc.AdminServiceStub(self.channel)

    @property
    def region(self) -> str:
        """The region this client's config signs for (the issuer of every write)."""
        if self.config is None:
            raise BrandexError("writing needs the node's config (its region signs)")
        return self.config.region

    def _checked(self, problems: list[ValidationError]) -> None:
        if problems:
            raise InvalidRequest(problems)

    def _send(self, call: Callable[..., Any], msg: Any) -> t.Logged:
        with remote_errors():
            return from_message(t.Logged, call(msg, timeout=WRITE_TIMEOUT))

    # ------------------------------------------------------------- records

    def issue(self, record: Fields) -> t.Logged:
        """Sign one recognition into the node's own log (``duplicate`` if it was there)."""
        rec = _message(entries_pb2.Recognition, record, "record")
        self._checked(recognition_errors(rec, issuer=self.region))
        return self._send(self._admin.Issue, rec)

    def issue_batch_async(self, records: Sequence[Any]) -> PendingBatch:
        """Send a batch of recognitions without waiting (an importer keeps a few in flight)."""
        req = services_pb2.IssueBatchRequest(
            records=[_message(entries_pb2.Recognition, r, "record") for r in records]
        )
        return PendingBatch(self._admin.IssueBatch.future(req, timeout=300))

    def change_status(self, change: Fields) -> t.Logged:
        """Suspend, reinstate, revoke, renew, correct or withdraw one of the node's records."""
        msg = _message(entries_pb2.StatusChange, change, "change")
        self._checked(status_change_errors(msg, issuer=self.region))
        return self._send(self._admin.ChangeStatus, msg)

    # --------------------------------------------------------------- cases

    def report_case(self, case: Fields) -> t.Logged:
        """Report a counterfeit or infringement case (this region reports it)."""
        msg = _message(
            entries_pb2.InfringementCase, {"reporting_region": self.region, **case}, "case"
        )
        self._checked(case_errors(msg, issuer=self.region))
        return self._send(self._admin.ReportCase, msg)

    def act_on_case(self, action: Fields) -> t.Logged:
        """Log an action on a case (this region acts; the case is the reporter's by default)."""
        fields = {"case_region": self.region, "acting_region": self.region, **action}
        msg = _message(entries_pb2.CaseAction, fields, "action")
        self._checked(case_action_errors(msg, issuer=self.region))
        return self._send(self._admin.ActOnCase, msg)

    # ---------------------------------------------------------- agreements

    def accede(self, accession: Fields) -> t.Logged:
        """Sign this region's accession to an agreement."""
        msg = _message(entries_pb2.Accession, {"region": self.region, **accession}, "accession")
        self._checked(accession_errors(msg, issuer=self.region))
        return self._send(self._admin.Accede, msg)

    def withdraw(self, withdrawal: Fields) -> t.Logged:
        """Sign this region's withdrawal from an agreement."""
        msg = _message(entries_pb2.Withdrawal, {"region": self.region, **withdrawal}, "withdrawal")
        self._checked(withdrawal_errors(msg, issuer=self.region))
        return self._send(self._admin.Withdraw, msg)

    # ---------------------------------------------------------------- keys

    def rotate_key(self, key_path: str, certificate_path: str) -> t.Logged:
        """Announce a new signing key (files on the node's own disk) and switch to it."""
        req = services_pb2.RotateKeyRequest(key_path=key_path, certificate_path=certificate_path)
        return self._send(self._admin.RotateKey, req)

    def revoke_key(self, keyid: str, compromised_since: str, reason_text: str = "") -> t.Logged:
        """Declare an earlier signing key compromised since an RFC 3339 time."""
        req = services_pb2.RevokeKeyRequest(
            keyid=keyid, compromised_since=compromised_since, reason_text=reason_text
        )
        return self._send(self._admin.RevokeKey, req)

    # --------------------------------------------------------------- watch

    def watch(
        self,
        *,
        brand: str = "",
        uscc: str = "",
        record: tuple[str, str] | None = None,
        region: str = "",
        cursor: str = "",
    ) -> Iterator[t.WatchEvent]:
        """Events as the node mirrors them, from ``cursor`` on (empty: from now).

        The stream ends when the node ends it; a failure is a RemoteError
        (``Unreachable`` and ``RemoteFailure`` are worth retrying from the last cursor).
        """
        req = services_pb2.WatchRequest(brand=brand, uscc=uscc, region=region, cursor=cursor)
        if record:
            req.record.issuer, req.record.record_id = record
        stub = services_pb2_grpc.WatchServiceStub(self.channel)
        with remote_errors():
            for ev in stub.Watch(req):
                yield from_message(t.WatchEvent, ev)


class PendingBatch:
    """A batch on its way: :meth:`result` waits for the node's answer."""

    def __init__(self, future: Future) -> None:
        self._future = future

    def result(self) -> t.BatchLogged:
        try:
            resp = self._future.result()
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None
        return from_message(t.BatchLogged, resp)
