"""Loopback throughput cases (client and receiver); filled in as those parts land."""


def cases() -> list:
    return []
