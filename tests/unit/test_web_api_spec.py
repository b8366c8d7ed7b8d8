"""The console's JSON API is described by its OpenAPI document, one route per page's data."""

from __future__ import annotations

from exchange.web.app import Console, create_app, page_api_routes


def test_every_page_data_route_is_in_the_openapi_document() -> None:
    app = create_app(Console(None, None, None, None, None))  # type: ignore[arg-type]
    spec = app.openapi()
    paths = spec["paths"]
    pages = {r.path for r in app.routes if getattr(r, "include_in_schema", True) is False}
    for page, api in page_api_routes().items():
        assert page in pages, page
        assert api in paths and "get" in paths[api], api
    assert "/api/v1/records/{issuer}/{record_id}/bundle" in paths
    # Read-only: GET and nothing else, and no page (HTML) route in the API description.
    assert all(set(ops) == {"get"} for ops in paths.values())
    assert all(p.startswith("/api/v1/") for p in paths)
    search = {p["name"] for p in paths["/api/v1/search"]["get"]["parameters"]}
    assert {"q", "issuer", "region", "kind", "status", "nice_class", "offset"} <= search
    check = {p["name"]: p for p in paths["/api/v1/check"]["get"]["parameters"]}
    assert check["region"]["required"] and not check["brand"].get("required", False)
