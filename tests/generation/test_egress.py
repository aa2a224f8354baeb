"""Webhooks reach public addresses only: every non-global range and every IPv4 address carried
inside an IPv6 one, judged on the address actually connected to (no second DNS lookup)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import httpcore
import pytest

from tests.support.api_doubles import WebhookReceiver
from ui.generation import Delivery, WebhookSender
from ui.generation.egress import PublicOnly, Refused, embedded_ipv4, is_public

REFUSED = {
    "64:ff9b::a9fe:a9fe": "NAT64 for 169.254.169.254, a cloud's metadata service",
    "64:ff9b::7f00:1": "NAT64 for 127.0.0.1",
    "64:ff9b:1::a00:1": "local-use NAT64",
    "2002:7f00:1::1": "6to4 for 127.0.0.1",
    "2002:c0a8:101::1": "6to4 for 192.168.1.1",
    "2001:0:4136:e378:8000:63bf:80ff:fffe": "Teredo whose client is 127.0.0.1",
    "::ffff:127.0.0.1": "IPv4-mapped loopback",
    "::ffff:10.1.2.3": "IPv4-mapped private",
    "::7f00:1": "IPv4-compatible loopback",
    "::ffff:0:a9fe:a9fe": "IPv4-translated link-local",
    "::1": "loopback", "::": "unspecified",
    "fec0::1": "site-local", "fe80::1": "link-local", "fc00::1": "unique local", "ff02::1": "multicast",
    "2001:db8::1": "documentation", "3fff::1": "documentation (RFC 9637)", "100::1": "discard",
    "127.0.0.1": "loopback", "10.0.0.1": "private", "172.16.0.1": "private", "192.168.0.1": "private",
    "169.254.169.254": "link-local", "100.64.0.1": "shared address space", "0.0.0.0": "this network",
    "224.0.0.1": "multicast", "239.255.255.250": "multicast", "255.255.255.255": "broadcast",
    "192.0.0.8": "IETF protocol assignments", "192.0.2.1": "documentation", "198.18.0.1": "benchmarking",
    "240.0.0.1": "reserved", "192.88.99.1": "6to4 relay anycast",
}
ALLOWED = ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "2606:4700:4700::1111", "64:ff9b::808:808",
           "2002:808:808::1", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", REFUSED, ids=lambda a: f"{a} ({REFUSED[a]})")
def test_non_public_addresses_are_refused_in_every_form(address):
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_pass_even_inside_nat64_6to4_or_mapped(address):
    assert is_public(ipaddress.ip_address(address))


def test_the_ipv4_inside_each_form_is_found():
    v4 = ipaddress.ip_address
    assert embedded_ipv4(v4("64:ff9b::a9fe:a9fe")) == [v4("169.254.169.254")]
    assert embedded_ipv4(v4("2002:7f00:1::1")) == [v4("127.0.0.1")]
    server, client = embedded_ipv4(v4("2001:0:4136:e378:8000:63bf:80ff:fffe"))
    assert (str(server), str(client)) == ("65.54.227.120", "127.0.0.1")
    assert embedded_ipv4(v4("2606:4700:4700::1111")) == []


def test_the_connection_goes_to_the_address_that_was_checked(monkeypatch):
    """DNS rebinding: the name answers a public address to the check and loopback a moment later.
    PublicOnly asks once and connects to what it checked, so the second answer is never used."""
    answers = iter([[("93.184.215.14", 443)], [("127.0.0.1", 443)]])
    lookups, connected = [], []

    async def getaddrinfo(host, port, **kwargs):
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", sockaddr) for sockaddr in next(answers)]

    async def connect_tcp(self, host, port, *args, **kwargs):
        connected.append(host)
        raise httpcore.ConnectError("test double: nothing is reached")

    async def run():
        loop = asyncio.get_running_loop()
        monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
        monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", connect_tcp)
        with pytest.raises(httpcore.ConnectError):
            await PublicOnly().connect_tcp("rebinding.example", 443)

    asyncio.run(run())
    assert lookups == ["rebinding.example"] and connected == ["93.184.215.14"]


def test_a_name_with_any_private_address_is_refused_before_connecting(monkeypatch):
    async def getaddrinfo(host, port, **kwargs):
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2001:4860:4860::8888", port, 0, 0)),
                (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("64:ff9b::a9fe:a9fe", port, 0, 0))]

    async def run():
        monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
        with pytest.raises(Refused, match="64:ff9b::a9fe:a9fe"):
            await PublicOnly().connect_tcp("half-public.example", 443)

    asyncio.run(run())


def test_a_webhook_to_a_nat64_form_of_loopback_is_never_sent():
    """End to end: a real receiver on 127.0.0.1, addressed through its NAT64 form."""
    with WebhookReceiver() as receiver:
        port = receiver.url.split(":")[2].split("/")[0]
        delivery = Delivery()
        sender = WebhookSender("secret", attempts=2, sleep=lambda s: asyncio.sleep(0))
        asyncio.run(sender.deliver(f"http://[64:ff9b::7f00:1]:{port}/hook", "job.succeeded", {"x": 1}, delivery))
        assert delivery.state == "failed" and "not a public address (64:ff9b::7f00:1)" in delivery.last_error
        assert receiver.received == []
