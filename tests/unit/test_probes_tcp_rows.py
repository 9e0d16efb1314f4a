"""Matching /proc/net/tcp rows to a server's sockets (profiling.probes.connections)."""

from __future__ import annotations

from profiling.probes.connections import count_established

HEADER = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt"
    "   uid  timeout inode\n"
)


def row(n: int, local: str, remote: str, state: str, inode: int) -> str:
    queues = "00000000:00000000 00:00000000 00000000"
    return f"{n:4}: {local} {remote} {state} {queues}  1000 0 {inode} 1 0\n"


TCP = HEADER + "".join(
    [
        row(0, "0100007F:1F90", "00000000:0000", "0A", 10),  # the server listens on 8080
        row(1, "0100007F:1F90", "0100007F:D431", "01", 11),  # a client of it
        row(2, "0100007F:1F90", "0100007F:D432", "01", 12),  # another
        row(3, "0100007F:1F90", "0100007F:D433", "06", 13),  # TIME_WAIT: closed
        row(4, "0100007F:D500", "0100007F:6989", "01", 14),  # the server's own DB connection
        row(5, "0100007F:D431", "0100007F:1F90", "01", 99),  # the client's end: not ours
        row(6, "0100007F:1F91", "0100007F:D434", "01", 98),  # another server's client
    ]
)
TCP6 = HEADER + row(0, "00000000000000000000000001000000:1F90", "0" * 32 + ":D440", "01", 15)


def test_only_clients_of_the_servers_listening_ports_count() -> None:
    ours = {10, 11, 12, 13, 14, 15}
    assert count_established([TCP, TCP6], ours) == 3  # two over IPv4, one over IPv6
    assert count_established([TCP], ours) == 2


def test_nothing_without_a_listening_socket() -> None:
    assert count_established([TCP], {11, 12}) == 0
    assert count_established([HEADER], {10}) == 0
