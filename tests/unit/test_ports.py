"""Ports chosen at run time: from BRANDEX_PORT_RANGE when set, else from the kernel."""

import socket

import pytest

from exchange import ports


def test_a_range_is_parsed_inclusive():
    assert ports.port_range("12000-12003") == range(12000, 12004)
    assert ports.port_range("") is None


@pytest.mark.parametrize("bad", ["12000", "a-b", "12003-12000", "80-90", "60000-70000"])
def test_a_bad_range_is_refused_by_name(bad):
    with pytest.raises(ValueError, match="BRANDEX_PORT_RANGE"):
        ports.port_range(bad)


def test_ports_come_from_the_range_distinct_and_free(monkeypatch):
    monkeypatch.setenv(ports.ENV, "23000-23009")
    chosen = ports.free_ports(5)
    assert len(set(chosen)) == 5
    assert all(23000 <= p <= 23009 for p in chosen)
    # The next call does not hand them out again before the range wraps.
    assert not set(ports.free_ports(5)) & set(chosen)


def test_a_port_in_use_is_skipped(monkeypatch):
    monkeypatch.setenv(ports.ENV, "23010-23011")
    with socket.socket() as held:
        held.bind(("127.0.0.1", 23010))
        held.listen()
        assert {ports.free_port() for _ in range(4)} == {23011}


def test_a_range_with_too_few_free_ports_says_so(monkeypatch):
    monkeypatch.setenv(ports.ENV, "23020-23020")
    with pytest.raises(RuntimeError, match="fewer than 2 free ports"):
        ports.free_ports(2)


def test_without_a_range_the_kernel_picks(monkeypatch):
    monkeypatch.delenv(ports.ENV, raising=False)
    chosen = ports.free_ports(3)
    assert len(set(chosen)) == 3
    assert all(ports.port_free("127.0.0.1", p) for p in chosen)


def test_each_test_worker_has_its_own_block():
    """tests/conftest.py gives this process a block below the ephemeral range."""
    block = ports.port_range()
    assert block is not None and block.stop <= 32768


def _listening(port: int) -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    s.listen()
    return s


def test_the_demo_console_takes_the_next_port_of_its_list_and_names_the_list_when_full():
    from exchange.demo.console import CONSOLE_PORTS, console_port

    assert CONSOLE_PORTS.start == 8340 and len(CONSOLE_PORTS) == 20  # operators.md says so
    for first in range(41000, 42000, 2):  # two adjacent free ports, away from 8340
        if ports.port_free("127.0.0.1", first) and ports.port_free("127.0.0.1", first + 1):
            break
    wanted = range(first, first + 2)
    with _listening(first):
        assert console_port(wanted) == first + 1
        with _listening(first + 1), pytest.raises(SystemExit, match=f"ports {first}-{first + 1}"):
            console_port(wanted)
    assert console_port(wanted) == first
