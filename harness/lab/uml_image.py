"""The UML image: the cached machine image made bootable by a User-Mode Linux kernel.

It is built once per release and UML kernel (see ``images.machine_recipe``) from the
nspawn image: the kernel's modules, the packages a UML machine needs, legacy iptables,
and a boot unit that turns the shared root into one machine. The unit reads what makes
a machine *this* machine (host key, address, hosts, authorized key) from a small
read-only config disk that ``uml`` writes per machine, and mounts the data disk that
holds Docker's state; the result is ``root.img``, which every machine of the image
boots from through its own copy-on-write file.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from harness.errors import MissingToolError
from harness.lab import hostcmd

log = logging.getLogger(__name__)

UML = "linux.uml"
UML_MODULES = Path("/usr/lib/uml/modules")
# What the uml kind needs on this host, to build its image and to run its machines.
TOOLS = [UML, "mkfs.ext4", "gcc"]
ROOT_DISK = "4G"  # sparse: only what the image holds is written
# The packages a UML machine needs beyond the nspawn image: modprobe for the kernel's
# own module requests, ipvsadm to see what IPVS does.
PACKAGES = ("kmod", "ipvsadm")
# Loaded at boot so the doctor and the first service find them; the kernel requests
# most of them on demand as well, now that modprobe exists.
BOOT_MODULES = (
    "ip_vs",
    "ip_vs_rr",
    "xt_ipvs",
    "esp4",
    "xfrm_user",
    "xfrm4_tunnel",
    "gcm",
    "ghash_generic",
    "seqiv",
    "authenc",
    "vxlan",
    "bridge",
    "br_netfilter",
    "veth",
    "overlay",
    "macvlan",
    "nf_conntrack",
    "nf_nat",
    "iptable_filter",
    "iptable_nat",
    "iptable_mangle",
    "iptable_raw",
    "ip6table_filter",
    "ip6table_nat",
    "xt_conntrack",
    "xt_MASQUERADE",
    "xt_addrtype",
    "xt_mark",
    "xt_u32",
    "xt_policy",
    "xt_statistic",
    "xt_comment",
    "xt_multiport",
    "ip_set",
)
SETUP_SCRIPT = "usr/local/sbin/swarm-harness-machine"
SETUP_UNIT = "swarm-harness-machine.service"
MACHINE_ENV = "etc/swarm-harness/machine.env"

# Runs before sysinit.target, so everything else starts on the finished machine. No udev
# in the image (systemd would wait for device units that never come), so this script
# mounts the disks itself. A whiteout in the config disk (a 0/0 character device, an
# overlay's mark for a deleted file) deletes that file from the root.
_SCRIPT = """#!/bin/sh
set -eu
cfg=/run/swarm-harness/config
mkdir -p "$cfg"
mount -o ro /dev/ubdc "$cfg"
for entry in "$cfg"/* "$cfg"/.[!.]*; do
    [ -e "$entry" ] || continue
    [ "$entry" = "$cfg/lost+found" ] || cp -a --no-preserve=xattr "$entry" /
done
find "$cfg" -type c | while read -r gone; do rm -f "/${gone#"$cfg"/}"; done
umount "$cfg"
mkdir -p /srv/data
mountpoint -q /srv/data || mount /dev/ubdb /srv/data
for dir in docker etc-docker; do mkdir -p "/srv/data/$dir"; done
mkdir -p /var/lib/docker /etc/docker
mountpoint -q /var/lib/docker || mount --bind /srv/data/docker /var/lib/docker
mountpoint -q /etc/docker || mount --bind /srv/data/etc-docker /etc/docker
. /etc/swarm-harness/machine.env
ip link set lo up
ip link set "$IFACE" mtu "$MTU" up
ip addr replace "$ADDRESS" dev "$IFACE"
"""

_UNIT = f"""[Unit]
Description=Lab machine identity, address and Docker disk
DefaultDependencies=no
After=local-fs.target systemd-remount-fs.service
Before=sysinit.target network-pre.target ssh.service containerd.service docker.socket docker.service
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/{SETUP_SCRIPT}

[Install]
WantedBy=sysinit.target
"""


def kernel_release() -> str:
    """The installed UML kernel's release (its modules' directory), or "absent".

    It is part of the image's cache key: the image carries that kernel's modules.
    """
    found = sorted(p.name for p in UML_MODULES.glob("*") if p.is_dir()) if UML_MODULES.is_dir() else []
    return found[-1] if found else "absent"


def build_image(base_root: Path, staging: Path, apt_options: str = "") -> None:
    """The UML image: a copy of the cached machine image with the UML kernel's modules,
    kmod, ipvsadm, legacy iptables (the UML kernel has no nf_tables for iptables-nft) and
    the boot unit; then ``root.img``, the disk every machine of the image boots from.
    ``apt_options`` go to both apt-get calls (the release table's, see ``images``)."""
    hostcmd.require_tools([*TOOLS, "systemd-nspawn"])
    release = kernel_release()
    if release == "absent":
        raise MissingToolError(
            f"the UML kernel's modules are missing from {UML_MODULES}",
            "install them: apt-get install user-mode-linux (or run ./scripts/setup.sh)",
        )
    root = staging / "root"
    hostcmd.run(["cp", "-a", "--reflink=auto", str(base_root), str(root)], timeout_s=600)
    install = (
        f"apt-get {apt_options} update -qq && "
        f"apt-get {apt_options} install -y -qq --no-install-recommends {' '.join(PACKAGES)} >/dev/null && "
        "update-alternatives --set iptables /usr/sbin/iptables-legacy && "
        "update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy && "
        "apt-get clean && rm -rf /var/lib/apt/lists/*"
    )
    log.info("adding %s and legacy iptables to the UML image", ", ".join(PACKAGES))
    hostcmd.run(
        [
            "systemd-nspawn",
            "--quiet",
            "--register=no",
            "--keep-unit",
            "--machine=swarm-harness-image",
            "--pipe",
            "-D",
            str(root),
            "-E",
            "DEBIAN_FRONTEND=noninteractive",
            "sh",
            "-ec",
            install,
        ],
        timeout_s=900,
    )
    (root / "etc/machine-id").write_text("")
    modules = root / "usr/lib/modules" / release
    shutil.rmtree(modules, ignore_errors=True)
    shutil.copytree(UML_MODULES / release, modules, symlinks=True)
    present = {p.name.split(".ko")[0].replace("-", "_") for p in modules.rglob("*.ko*")}
    wanted = [m for m in BOOT_MODULES if m in present]
    load = root / "etc/modules-load.d"
    load.mkdir(parents=True, exist_ok=True)
    (load / "swarm-harness.conf").write_text("\n".join(wanted) + "\n")
    script = root / SETUP_SCRIPT
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(_SCRIPT)
    script.chmod(0o755)
    units = root / "etc/systemd/system"
    (units / SETUP_UNIT).write_text(_UNIT)
    wants = units / "sysinit.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (wants / SETUP_UNIT).unlink(missing_ok=True)
    (wants / SETUP_UNIT).symlink_to(f"/etc/systemd/system/{SETUP_UNIT}")
    # Every process costs ~20x more under UML: no login prompts on a console nobody reads.
    for unit in ("getty.target", "console-getty.service", "systemd-firstboot.service"):
        link = units / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    log.info("writing the UML root disk")
    hostcmd.run(
        ["mkfs.ext4", "-q", "-F", "-L", "root", "-d", str(root), str(staging / "root.img"), ROOT_DISK],
        timeout_s=600,
    )
