"""``swarm-harness upgrade``: the rolling Engine upgrade with traffic, and its report."""

from __future__ import annotations

import logging
from pathlib import Path

from harness.cluster import Cluster
from harness.errors import UserInputError
from harness.inventory import Inventory, load_inventory
from harness.lab.images import probe_recipe
from harness.probe.image import ensure_probe_images, image_ref
from harness.probe.service import deploy_global_probe, remove_service, service_name
from harness.provision.upgraders import choose_upgrader
from harness.rundir import RunDir
from harness.swarm.networks import ensure_networks
from harness.swarm.nodes import drained
from harness.swarm.services import create_probe_service, wait_replicas
from harness.upgrade.flow import run_upgrade
from harness.upgrade.report import UpgradeReport

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
    _check_order(inv, order, inventory_path)
    run_dir = RunDir.of_inventory(inventory_path)
    cluster = Cluster(inv, run_dir.run_id())
    upgrader = choose_upgrader(inv, inventory_path, cluster, to_release, order or [n.name for n in inv.nodes])
    labels = cluster.labels("upgrade")
    probes_service = ""
    try:
        _warn_drained(cluster)
        ensure_networks(cluster)
        ensure_probe_images(cluster, probe_recipe())
        probes_service = service_name("harness-plain", "upgrade")
        probes = deploy_global_probe(cluster, "harness-plain", labels, suffix="upgrade")
        probes_service = probes.service
        replicas = len(inv.nodes)
        client = cluster.manager_docker()
        if not [
            s for s in client.services.list(filters={"name": TRAFFIC_SERVICE}) if s.name == TRAFFIC_SERVICE
        ]:
            create_probe_service(
                cluster,
                TRAFFIC_SERVICE,
                "harness-plain",
                labels,
                image_ref("v1"),
                replicas=replicas,
                endpoint_mode="dnsrr",
            )
        wait_replicas(cluster, TRAFFIC_SERVICE, "harness-plain", replicas)
        report = run_upgrade(
            cluster, upgrader, probes, TRAFFIC_SERVICE, replicas, order, continue_on_failure, checks
        )
        # Each hop of a chain keeps its own report; upgrade-report.json is the latest one.
        out = run_dir.report(f"upgrade-report-{to_release}.json")
        report.write(out)
        report.write(run_dir.upgrade_report)
        if not report.failed_node:
            for name in (TRAFFIC_SERVICE, probes.service):
                remove_service(cluster, name)
        return report, out
    except KeyboardInterrupt:
        # The traffic services exist only for this upgrade: they go with it. A node the
        # interrupted step had drained stays drained; the next upgrade names it.
        for name in (TRAFFIC_SERVICE, probes_service):
            if name:
                try:
                    remove_service(cluster, name)
                except Exception as exc:
                    log.error("could not remove service %s: %s", name, exc)
        raise
    finally:
        cluster.close()


def upgrade_chain(text: str) -> list[str]:
    """``--to trixie,forky`` -> the releases of the chain, each named once and known,
    all checked before the first hop drains a node."""
    from harness.lab.images import release_info

    chain = [r.strip() for r in text.split(",") if r.strip()]
    if not chain or len(set(chain)) != len(chain):
        raise UserInputError(f"--to {text!r}: name each release once", "e.g. --to trixie or --to trixie,forky")
    if len(chain) > 1:
        for release in chain:
            release_info(release)
    return chain


def _check_order(inv: Inventory, order: list[str] | None, inventory_path: Path) -> None:
    """An order naming a node the inventory lacks fails before anything is created."""
    if order is None:
        return
    names = [n.name for n in inv.nodes]
    unknown = [n for n in order if n not in names]
    if unknown:
        raise UserInputError(
            f"--order names {', '.join(unknown)}, not a node of {inventory_path}",
            f"use the inventory's nodes: {','.join(names)}",
        )
    repeated = sorted({n for n in order if order.count(n) > 1})
    if repeated:
        raise UserInputError(f"--order repeats {', '.join(repeated)}", "name each node once")


def _warn_drained(cluster: Cluster) -> None:
    """A node left drained by an earlier, stopped upgrade is said before this one starts."""
    left = drained(cluster, cluster.first_manager.name)
    if left:
        log.warning(
            "drained before this upgrade (an earlier upgrade stopped there): %s; "
            "they are upgraded and made active again in their turn",
            ", ".join(left),
        )
