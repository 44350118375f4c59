"""The typed agent replies read what the agent printed, and print it back unchanged.

The documents below are the agent's own output, recorded from a run against a local
``serve`` (durations and ports as they came). The harness's artifacts re-serialise
some of them (the load counts in the traffic record), so a round trip must keep every
key, every null, and the keys the agent leaves out.
"""

from __future__ import annotations

import json

import pytest

from harness.probe.agent import (
    OMITTED,
    DnsReply,
    ErrorReply,
    HoldReply,
    HttpReply,
    IfacesReply,
    LoadReply,
    PingReply,
    TcpReply,
    UdpReply,
    parse_batch_reply,
)

BATCH = (
    '[{"op":"dns","name":"localhost","ok":true,"addresses":["127.0.0.1"],"error":null,"duration_s":0.001998,'
    '"id":"a"},'
    '{"op":"tcp","target":"127.0.0.1:58265","ok":true,"connected":true,"hostname":"vm","error":null,'
    '"duration_s":0.001353,"id":null},'
    '{"op":"udp","target":"127.0.0.1:56001","ok":true,"hostname":"vm","attempts":1,"error":null,'
    '"duration_s":0.001013},'
    '{"op":"http","url":"http://127.0.0.1:44729/bytes?n=10","ok":true,"status":200,"hostname":null,'
    '"version":null,"error":null,"bytes":10,"intact":true,"duration_s":0.00212,"id":3},'
    '{"op":"ping","target":"127.0.0.1","address":"127.0.0.1","size":60000,"df":true,"ok":false,"received":0,'
    '"sent":0,"rtt_ms":[],"error":"EMSGSIZE (exceeds path MTU unknown)","mtu":null,"duration_s":0.0004,'
    '"id":"p"},'
    '{"op":null,"ok":false,"error":"bad item: not an object"},'
    '{"op":"teleport","ok":false,"error":"bad item: unknown op \'teleport\' (expected dns, tcp, udp, http or ping)",'
    '"id":"x"},'
    '{"op":"tcp","ok":false,"error":"bad item: \'port\' must be an integer in 1..65535","id":"bp"}]'
)
LOAD = (
    '{"op":"load","url":"http://127.0.0.1:49153/","sent":4,"failed":4,'
    '"errors":{"ECONNREFUSED: Connection refused":4},"versions":{},"hostnames":{},"longest_gap_s":0.2013,'
    '"first_failure_s":0.000812,"last_failure_s":0.151937,"stopped_early":false,"duration_s":0.2013,"per_second":[[0,4]]}'
)
HOLD_REFUSED = (
    '{"op":"hold","target":"127.0.0.1:49153","ok":false,"connected":false,"hostname":null,'
    '"broken_at_s":0.000912,"exchanges":0,"error":"connect: ECONNREFUSED: Connection refused","duration_s":0.000925}'
)
HOLD_KEPT = (
    '{"op":"hold","target":"127.0.0.1:58265","ok":true,"connected":true,"hostname":"vm","broken_at_s":null,'
    '"exchanges":3,"error":null,"stopped_early":false,"duration_s":0.30121}'
)
PING_LOSSY = (
    '{"op":"ping","target":"10.0.1.4","address":"10.0.1.4","size":56,"df":true,"ok":true,"received":2,"sent":3,'
    '"rtt_ms":[0.412,0.388],"error":null,"loss_error":"timeout","duration_s":2.41}'
)
IFACES = '{"op":"ifaces","ok":true,"hostname":"vm","interfaces":["eth0","lo"],"netns":"net:[4026531840]"}'


def _compact(doc: object) -> str:
    return json.dumps(doc, separators=(",", ":"))


def test_a_batch_reads_as_one_typed_reply_per_item() -> None:
    replies = [parse_batch_reply(d) for d in json.loads(BATCH)]
    dns, tcp, udp, http, ping, not_object, unknown, bad_port = replies
    assert isinstance(dns, DnsReply) and dns.addresses == ("127.0.0.1",) and dns.id == "a"
    assert isinstance(tcp, TcpReply) and tcp.connected and tcp.hostname == "vm" and tcp.id is None
    assert isinstance(udp, UdpReply) and udp.attempts == 1 and udp.id is OMITTED
    assert isinstance(http, HttpReply) and (http.bytes, http.intact, http.id) == (10, True, 3)
    assert isinstance(ping, PingReply) and ping.mtu is None and ping.loss_error is OMITTED
    assert ping.error == "EMSGSIZE (exceeds path MTU unknown)"
    # What could not run is an error, whatever op it asked for.
    assert not_object == ErrorReply(op=None, error="bad item: not an object")
    assert isinstance(unknown, ErrorReply) and unknown.op == "teleport" and unknown.id == "x"
    assert isinstance(bad_port, ErrorReply) and bad_port.op == "tcp" and not bad_port.ok


def test_a_batch_prints_back_byte_for_byte() -> None:
    replies = [parse_batch_reply(d) for d in json.loads(BATCH)]
    assert _compact([r.to_dict() for r in replies]) == BATCH


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        (LoadReply, LOAD),
        (HoldReply, HOLD_REFUSED),
        (HoldReply, HOLD_KEPT),
        (PingReply, PING_LOSSY),
        (IfacesReply, IFACES),
    ],
)
def test_single_commands_print_back_byte_for_byte(
    kind: type[LoadReply | HoldReply | PingReply | IfacesReply], text: str
) -> None:
    assert _compact(kind.from_dict(json.loads(text)).to_dict()) == text


def test_typed_fields_of_single_commands() -> None:
    load = LoadReply.from_dict(json.loads(LOAD))
    assert (load.sent, load.failed, load.errors) == (4, 4, {"ECONNREFUSED: Connection refused": 4})
    assert load.first_failure_s == 0.000812 and load.versions == {}
    refused = HoldReply.from_dict(json.loads(HOLD_REFUSED))
    assert not refused.connected and refused.stopped_early is OMITTED and not refused.stopped_early
    lossy = PingReply.from_dict(json.loads(PING_LOSSY))
    assert lossy.ok and lossy.rtt_ms == (0.412, 0.388) and lossy.loss_error == "timeout"
    assert lossy.mtu is OMITTED
    ifaces = IfacesReply.from_dict(json.loads(IFACES))
    assert ifaces.interfaces == ("eth0", "lo") and ifaces.netns == "net:[4026531840]"


def test_keys_a_reply_lacks_take_the_defaults_and_unknown_keys_are_ignored() -> None:
    reply = TcpReply.from_dict({"op": "tcp", "ok": False, "error": "timeout", "future_field": 1})
    assert reply == TcpReply(ok=False, error="timeout")
    assert reply.connected is False and reply.hostname is None
