"""CPU per Ed25519 verify: libsodium (PyNaCl) against the node's rule, interleaved.

``python -m bench.verify_ab [--rounds 30] [--block 200]`` prints one JSON line.
Both verifiers accept the same signatures (``exchange.core.ed25519``); this
measures what each costs. They run in the same process in alternating blocks
(A, B, A, B, ...), each block timed with ``time.process_time``, so a change of
machine speed during the run (other sessions, frequency) falls on both alike;
the figures are the median and quartiles of the per-block costs. Messages are
envelope-sized (a DSSE PAE of ~600 bytes), each signed by one of a few keys, as
in a batch of one origin's entries.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from nacl.signing import SigningKey

from bench.common import emit
from exchange.core import ed25519


def _loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def run(rounds: int = 30, block: int = 200) -> dict[str, object]:
    keys = [SigningKey(bytes([i + 1]) * 32) for i in range(4)]
    cases = []
    for i in range(block):
        key = keys[i % len(keys)]
        msg = os.urandom(600)
        cases.append((i % len(keys), msg, key.sign(msg).signature))
    old = [k.verify_key for k in keys]  # nacl.signing.VerifyKey: libsodium
    new = [ed25519.VerifyKey(bytes(k.verify_key)) for k in keys]

    def timed(verifiers: list) -> float:
        t0 = time.process_time()
        for k, msg, sig in cases:
            verifiers[k].verify(msg, sig)
        return (time.process_time() - t0) / len(cases) * 1e6

    timed(old), timed(new)  # warm both
    load0 = _loadavg()
    a: list[float] = []
    b: list[float] = []
    for _ in range(rounds):
        a.append(timed(old))
        b.append(timed(new))
    load1 = _loadavg()

    def stats(xs: list[float]) -> dict[str, float]:
        q = statistics.quantiles(xs, n=4)
        return {
            "median": round(statistics.median(xs), 1),
            "q1": round(q[0], 1),
            "q3": round(q[2], 1),
        }

    ratios = [y / x for x, y in zip(a, b, strict=True)]
    figures = {
        "fast_path": ed25519.FAST_PATH,
        "rounds": rounds,
        "block": block,
        "cpu_us_per_verify_pynacl": stats(a),
        "cpu_us_per_verify_node_rule": stats(b),
        "ratio_node_to_pynacl_median": round(statistics.median(ratios), 3),
        "loadavg_start": load0,
        "loadavg_end": load1,
    }
    emit("verify_ab", **figures)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--block", type=int, default=200)
    args = parser.parse_args()
    run(args.rounds, args.block)


if __name__ == "__main__":
    main()
