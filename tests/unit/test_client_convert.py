"""Protobuf answers to the client's dataclasses: fields by name, ``wire`` on first use."""

from datetime import date

from exchange._proto.brandex.v1 import entries_pb2, services_pb2
from exchange.client import types as t
from exchange.client.convert import from_message, to_dict
from exchange.demo.dataset import demo_records
from exchange.web.views import jsonable


def _response() -> services_pb2.SearchResponse:
    resp = services_pb2.SearchResponse(total=2**40, typo=True)
    for rec in demo_records()["zhejiang"][:3]:
        v = resp.records.add(
            issuer="330000", issuer_name="浙江省", status_today="valid", valid_until="2027-01-31"
        )
        v.record.CopyFrom(entries_pb2.Recognition(**rec))
        v.recognised_in.extend(["310000", "340000"])
    return resp


def test_fields_convert_by_name_and_type() -> None:
    resp = _response()
    out = from_message(t.SearchResult, resp)
    assert out.total == 2**40 and out.typo is True
    first = out.records[0]
    assert first.valid_until == date(2027, 1, 31)
    assert first.recognised_in == ["310000", "340000"]
    assert first.record.kind == entries_pb2.RecognitionKind.Name(resp.records[0].record.kind)
    assert first.record.brand_name == resp.records[0].record.brand_name


def test_wire_is_the_json_mapping_made_on_first_use() -> None:
    resp = _response()
    out = from_message(t.SearchResult, resp)
    assert out._wire is None and out.records[0]._wire is None  # nothing made yet
    assert out.wire == to_dict(resp)
    assert out.wire["total"] == 2**40  # 64-bit numbers as numbers
    assert out.records[1].wire == to_dict(resp.records[1])
    assert out.records[2]._wire is None  # only what was read


def test_the_console_json_has_no_wire() -> None:
    out = from_message(t.SearchResult, _response())
    doc = jsonable(out)
    assert "wire" not in doc and "_message" not in doc
    assert "wire" not in doc["records"][0]
