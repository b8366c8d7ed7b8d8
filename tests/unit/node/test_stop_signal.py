"""``wait_for_stop_signal``: woken by SIGTERM or SIGINT whichever thread receives it.

Run in a fresh interpreter: it installs process-wide signal handlers, which pytest's
own process must keep.
"""

from __future__ import annotations

import subprocess
import sys

_SCRIPT = r"""
import random, signal, threading, time
from exchange.node.server import wait_for_stop_signal

got = []
for i in range(200):
    sig = (signal.SIGTERM, signal.SIGINT)[i % 2]
    ready = threading.Event()

    def send(sig=sig):
        ready.wait()
        time.sleep(random.random() * 0.002)  # land anywhere in the main thread's wait
        # To this thread, not the main one: the kernel may pick any thread of a process.
        signal.pthread_kill(threading.get_ident(), sig)

    t = threading.Thread(target=send)
    t.start()
    got.append(wait_for_stop_signal(ready.set))
    t.join()
print(" ".join(str(int(s)) for s in got))
"""


def test_a_signal_to_any_thread_ends_the_wait() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=120, check=True
    )
    got = [int(s) for s in out.stdout.split()]
    assert got == [15, 2] * 100, out.stderr[-2000:]
