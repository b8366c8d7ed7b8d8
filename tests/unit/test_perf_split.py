"""bench.perf_split: perf samples counted per process role, library and Ed25519 part."""

from __future__ import annotations

from bench.perf_split import split

_LINES = [
    # As `perf script -F pid,ip,sym,dso` prints them; a tid after the pid is allowed.
    "    10      7f34a17d7b00 _PyEval_EvalFrameDefault+0x1 (/usr/lib/libpython3.11.so.1.0)",
    "    10/12   ffffffff817a6975 ext4_llseek ([kernel.kallsyms])",
    "    20/20      7f00 <&curve25519_dalek::backend::vector::avx2::field::FieldElement2625x4"
    " as core::ops::arith::Mul>::mul (/venv/site-packages/solders/solders.abi3.so)",
    "    20/20      7f01 curve25519_dalek::backend::serial::u64::field::FieldElement51::pow2k"
    " (/venv/site-packages/solders/solders.abi3.so)",
    "    20/20      7f02 curve25519_dalek::backend::serial::u64::field::FieldElement51::pow2k"
    " (/venv/site-packages/solders/solders.abi3.so)",
    "    20/20      7f03 sha2::sha512::compress (/venv/site-packages/solders/solders.abi3.so)",
    "    21/21      7f04 binascii_a2b_base64 (/x/binascii.cpython-311-x86_64-linux-gnu.so)",
    "     0/0       ffffffff81000000 default_idle ([kernel.kallsyms])",
    "    99/99      7f05 sqlite3VdbeExec (/usr/lib/libsqlite3.so.0.8.6)",
    "not a sample line",
    "",
]


def test_samples_are_split_by_role_library_and_ed25519_part() -> None:
    out = split(_LINES, {10: "joiner", 20: "workers", 21: "workers"})
    assert out["samples"] == 9  # the two lines that are not samples are skipped
    assert out["workers"] == {
        "share": round(5 / 9, 3),
        "libraries": {"solders": 0.8, "binascii": 0.2},
    }
    assert out["joiner"]["libraries"] == {"libpython3.11": 0.5, "kernel": 0.5}
    assert out["idle"]["share"] == round(1 / 9, 3)
    assert out["other"]["libraries"] == {"libsqlite3": 1.0}  # a pid with no role
    # Of solders' 4 samples: 1 AVX2, 2 serial field operations, 1 neither (SHA-512).
    assert out["ed25519_in_solders"] == {"avx2_double_base": 0.25, "serial_field_ops": 0.5}


def test_no_solders_samples_means_no_ed25519_figures() -> None:
    out = split(_LINES[:2], {10: "joiner"})
    assert "ed25519_in_solders" not in out
    assert out["joiner"]["share"] == 1.0
