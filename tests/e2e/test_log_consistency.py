"""``brandex log consistency``: the RFC 9162 proof between two sizes, verified against roots."""

from __future__ import annotations

import base64

import pytest
from harness import brandex

from exchange.core import merkle

pytestmark = pytest.mark.e2e

ZJ = "yrd/330000"


def test_log_consistency_prints_and_verifies_the_proof(federation_factory) -> None:
    fed = federation_factory({"zhejiang": "330000"}, {}, sync_interval=30.0)
    fed.start_all()
    cfg = fed.configs["zhejiang"]
    size1 = fed.issue("zhejiang", 3)
    _, root1 = fed.heads("zhejiang")[ZJ]
    size2 = fed.issue("zhejiang", 5)
    _, root2 = fed.heads("zhejiang")[ZJ]
    assert 0 < size1 < size2

    args = ["log", "consistency", "--origin", ZJ, "--old", str(size1), "--new", str(size2)]
    out = brandex(*args, config=cfg, expect=0).stdout
    proof = [base64.b64decode(line, validate=True) for line in out.splitlines()]
    assert proof and all(len(h) == 32 for h in proof)
    merkle.verify_consistency(size1, size2, proof, root1, root2)

    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    ok = brandex(*args, "--old-root", b64(root1), "--new-root", b64(root2), config=cfg, expect=0)
    assert ok.stdout == out and "verified" in ok.stderr
    # A root that is not the log's: the proof does not verify, exit 1.
    bad = brandex(*args, "--old-root", b64(root2), "--new-root", b64(root2), config=cfg, expect=1)
    assert bad.stderr.startswith("error:")
    # Sizes the node does not hold: refused by the node (exit 1); usage errors exit 2.
    too_big = ["log", "consistency", "--origin", ZJ, "--old", "1", "--new", str(size2 + 1)]
    brandex(*too_big, config=cfg, expect=1)
    brandex(*args, "--old-root", b64(root1), config=cfg, expect=2)
    brandex(*args, "--old-root", "not base64!", "--new-root", b64(root2), config=cfg, expect=2)
