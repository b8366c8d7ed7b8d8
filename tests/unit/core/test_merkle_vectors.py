"""RFC 9162 proofs against every transparency-dev/merkle test vector.

Each JSON file under ``rfc9162-vectors/{inclusion,consistency}/`` is one case:
happy paths must verify and every mutation (``wantErr``) must be rejected with
VerificationError. The happy proofs are also regenerated from the RFC 6962 test
tree, so generation is checked against an independent implementation too.
"""

import base64
import json
from pathlib import Path

import pytest

from exchange.core.errors import VerificationError
from exchange.core.merkle import (
    MemoryHashStore,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_from_inclusion_proof,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

# Same place as conftest.SHARED; computed here because parametrisation happens at
# collection time, before fixtures exist.
VECTORS = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "rfc9162-vectors"

# The eight leaf entries of the RFC 6962 / transparency-dev test tree.
RFC6962_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]


def _files(kind: str) -> list[Path]:
    return sorted((VECTORS / kind).rglob("*.json")) if VECTORS.is_dir() else []


def _params(kind: str) -> list:
    files = _files(kind)
    if not files:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"no vectors at {VECTORS}"))]
    return [pytest.param(f, id=f.relative_to(VECTORS).as_posix()) for f in files]


def _b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def _load(path: Path) -> dict:
    case = json.loads(path.read_text())
    case["proof"] = [_b64(h) for h in case["proof"] or []]  # "proof": null means empty
    return case


def test_vector_files_are_all_there(shared_data: Path) -> None:
    root = shared_data / "rfc9162-vectors"
    inclusion, consistency = len(_files("inclusion")), len(_files("consistency"))
    print(f"rfc9162 vectors: inclusion {inclusion}, consistency {consistency}")
    assert root == VECTORS
    assert inclusion >= 90
    assert consistency >= 90
    # Both kinds must contain happy paths and mutations, or the suite proves little.
    for kind in ("inclusion", "consistency"):
        wants = {json.loads(p.read_text())["wantErr"] for p in _files(kind)}
        assert wants == {True, False}


@pytest.mark.parametrize("path", _params("inclusion"))
def test_inclusion_vector(path: Path) -> None:
    case = _load(path)
    args = (_b64(case["leafHash"]), case["leafIdx"], case["treeSize"], case["proof"])
    root = _b64(case["root"])
    if case["wantErr"]:
        with pytest.raises(VerificationError):
            verify_inclusion(*args, root)
    else:
        verify_inclusion(*args, root)
        assert root_from_inclusion_proof(*args) == root


@pytest.mark.parametrize("path", _params("consistency"))
def test_consistency_vector(path: Path) -> None:
    case = _load(path)
    args = (case["size1"], case["size2"], case["proof"], _b64(case["root1"]), _b64(case["root2"]))
    if case["wantErr"]:
        with pytest.raises(VerificationError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


@pytest.fixture(scope="module")
def rfc6962_store() -> MemoryHashStore:
    store = MemoryHashStore()
    store.append([leaf_hash(entry) for entry in RFC6962_LEAVES])
    return store


def test_generated_proofs_equal_happy_vectors(
    shared_data: Path, rfc6962_store: MemoryHashStore
) -> None:
    """Our generator reproduces every happy proof drawn from the RFC 6962 tree."""
    leaf_index = {leaf_hash(entry): i for i, entry in enumerate(RFC6962_LEAVES)}
    checked = 0
    for path in _files("inclusion"):
        case = _load(path)
        leaf = _b64(case["leafHash"])
        size = case["treeSize"]
        if case["wantErr"] or size > 8 or leaf_index.get(leaf) != case["leafIdx"]:
            continue
        assert root_hash(size, rfc6962_store) == _b64(case["root"]), path
        assert inclusion_proof(case["leafIdx"], size, rfc6962_store) == case["proof"], path
        checked += 1
    for path in _files("consistency"):
        case = _load(path)
        size1, size2 = case["size1"], case["size2"]
        if case["wantErr"] or size2 > 8 or root_hash(size2, rfc6962_store) != _b64(case["root2"]):
            continue
        assert root_hash(size1, rfc6962_store) == _b64(case["root1"]), path
        assert consistency_proof(size1, size2, rfc6962_store) == case["proof"], path
        checked += 1
    print(f"regenerated {checked} happy proofs")
    assert checked >= 8
