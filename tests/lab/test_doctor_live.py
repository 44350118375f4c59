"""The doctor's addressing check on the live lab: a route into an overlay, made on purpose."""

from __future__ import annotations

from harness.cluster import Cluster
from harness.doctor.report import run_doctor


def test_a_route_into_an_overlay_is_a_doctor_finding_naming_node_route_and_network(
    shared_cluster: Cluster,
) -> None:
    healthy = run_doctor(shared_cluster, ports=False)
    assert healthy.addressing == [], healthy.addressing
    (config,) = shared_cluster.manager_docker().networks.get("harness-plain").attrs["IPAM"]["Config"]
    subnet = config["Subnet"]
    shared_cluster.run("node2", f"ip route add {subnet} dev eth0").check()
    try:
        broken = run_doctor(shared_cluster, ports=False)
    finally:
        shared_cluster.run("node2", f"ip route del {subnet} dev eth0").check()
    assert len(broken.addressing) == 1, broken.addressing
    assert broken.addressing[0].startswith(
        f"route {subnet} dev eth0 on node2 overlaps overlay harness-plain ({subnet})"
    ), broken.addressing
    assert run_doctor(shared_cluster, ports=False).addressing == [], "the finding goes with the route"
