"""``swarm-harness upgrade``: the rolling Engine upgrade with traffic, and its report."""

from __future__ import annotations

import logging
from pathlib import Path

from harness.errors import UserInputError
from harness.inventory import load_inventory
from harness.probe.image import ensure_probe_images
from harness.probe.service import deploy_global_probe, remove_service
from harness.rundir import read_info
from harness.swarm.cluster import Cluster
from harness.swarm.networks import ensure_networks
from harness.swarm.services import create_probe_service, wait_replicas
from harness.swarm.upgrade import UpgradeReport, command_upgrader, run_upgrade

log = logging.getLogger(__name__)

TRAFFIC_SERVICE = "upgrade-web"


def upgrade(
    inventory_path: Path,
    to_release: str,
    order: list[str] | None,
    continue_on_failure: bool,
    checks: bool,
) -> tuple[UpgradeReport, Path]:
    inv = load_inventory(inventory_path)
    run_dir = inventory_path.resolve().parent
    info = read_info(run_dir)
    cluster = Cluster(inv, info.run_id if info else "adhoc")
    uses_commands = bool(inv.upgrade_command) or any(n.upgrade_command for n in inv.nodes)
    if inv.provider == "local" and not uses_commands:
        from harness.lab.upgrader import lab_upgrader

        lab = str(inv.provider_data.get("lab", ""))
        if not lab:
            raise UserInputError(
                f"{inventory_path} has no provider_data.lab", "regenerate it with 'swarm-harness up'"
            )
        upgrader = lab_upgrader(lab, to_release)
    elif uses_commands:
        upgrader = command_upgrader(cluster, inv.upgrade_command)
    else:
        raise UserInputError(
            f"{inventory_path}: no way to upgrade {inv.provider} hosts",
            "set upgrade_command (per node or for the inventory), e.g. an apt install of a pinned engine",
        )
    labels = cluster.labels("upgrade")
    try:
        ensure_networks(cluster)
        ensure_probe_images(cluster)
        probes = deploy_global_probe(cluster, "harness-plain", labels, suffix="upgrade")
        replicas = len(inv.nodes)
        client = cluster.manager_docker()
        if not [
            s for s in client.services.list(filters={"name": TRAFFIC_SERVICE}) if s.name == TRAFFIC_SERVICE
        ]:
            create_probe_service(
                cluster, TRAFFIC_SERVICE, "harness-plain", labels, replicas=replicas, endpoint_mode="dnsrr"
            )
        wait_replicas(cluster, TRAFFIC_SERVICE, "harness-plain", replicas)
        report = run_upgrade(
            cluster, upgrader, probes, TRAFFIC_SERVICE, replicas, order, continue_on_failure, checks
        )
        out = run_dir / "reports" / "upgrade-report.json"
        report.write(out)
        if not report.failed_node:
            for name in (TRAFFIC_SERVICE, probes.service):
                remove_service(cluster, name)
        return report, out
    finally:
        cluster.close()
