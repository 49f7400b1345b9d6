"""Which addresses callbacks and networked tools may reach, in every spelling."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from agentbatch.net_guard import (
    AddressPolicy,
    BlockedAddress,
    address_class,
    parse_ip,
    sockaddr_refusal,
    url_problem,
)


@pytest.mark.parametrize(
    ("spelling", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("169.254.169.254.", "169.254.169.254"),
        ("[::1]", "::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
    ],
)
def test_every_ip_spelling_is_read_as_the_resolver_reads_it(spelling: str, address: str) -> None:
    assert parse_ip(spelling) == ipaddress.ip_address(address)


@pytest.mark.parametrize("name", ["example.com", "0x7f.example.com", "1e3", "", "127.0.0.1 x"])
def test_names_are_not_addresses(name: str) -> None:
    assert parse_ip(name) is None


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.31.0.1", "private"),
        ("192.168.0.1", "private"),
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("169.254.169.254", "metadata"),
        ("169.254.1.1", "link-local"),
        ("224.0.0.251", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "private"),
        ("192.0.2.1", "private"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fd00:ec2::254", "metadata"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "metadata"),  # NAT64 of 169.254.169.254
        ("::7f00:1", "loopback"),  # IPv4-compatible
    ],
)
def test_non_public_addresses_are_classified(address: str, reason: str) -> None:
    assert address_class(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert address_class(ipaddress.ip_address(address)) is None


def test_allow_list_and_development_opt_out() -> None:
    policy = AddressPolicy(["10.0.0.0/8", "hooks.internal"])
    assert policy.refusal(ipaddress.ip_address("10.9.9.9")) is None
    assert policy.refusal(ipaddress.ip_address("::ffff:10.9.9.9")) is None
    assert policy.refusal(ipaddress.ip_address("192.168.1.1")) == "private"
    policy.check_literal("hooks.internal")  # allowed by name
    anything = AddressPolicy(allow_private=True)
    assert anything.refusal(ipaddress.ip_address("127.0.0.1")) is None


def test_a_name_with_any_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def resolve(host: str, port: int, *args: object, **kwargs: object) -> list[object]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(BlockedAddress) as refused:
        AddressPolicy().resolve_allowed("mixed.example", 443)
    assert refused.value.reason == "private"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://example.com/x", "http:// or https://"),
        ("http:///path", "has no host"),
        ("http://exa mple.com/", "spaces or control characters"),
        ("http://example.com:99999/", "not a valid URL"),
        ("http://localhost:8080/", "loopback"),
        ("https://0x7f.1/", "loopback"),
        ("http://[::ffff:169.254.169.254]/", "metadata"),
        ("https://example.com/" + "a" * 2100, "longer than 2048"),
    ],
)
def test_callback_url_problems(url: str, problem: str) -> None:
    found = url_problem(url, AddressPolicy())
    assert found is not None and problem in found


def test_good_callback_url() -> None:
    assert url_problem("https://hooks.example.com:8443/agentbatch?x=1", AddressPolicy()) is None


def test_sandbox_guard_refuses_unix_sockets_names_and_private_addresses() -> None:
    assert sockaddr_refusal(socket.AF_UNIX, "/var/run/postgresql/.s.PGSQL.5432") == "unix socket"
    assert sockaddr_refusal(socket.AF_INET, ("127.0.0.1", 5432)) == "loopback"
    assert sockaddr_refusal(socket.AF_INET6, ("::1", 80, 0, 0)) == "loopback"
    assert sockaddr_refusal(socket.AF_INET, ("example.com", 80)) == "unresolved name"
    assert sockaddr_refusal(socket.AF_INET, ("93.184.215.14", 443)) is None
