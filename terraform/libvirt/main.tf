# Swarm hosts as local KVM virtual machines (dmacvicar/libvirt 0.8.x).
#
# Each VM has two NICs:
#   mgmt0  on a NAT network (var.management_cidr): the harness SSHes here, the VM reaches
#          package mirrors through it;
#   swarm0 on an isolated network (var.private_cidr, mode "none", no host address): swarm
#          traffic between the VMs only.
# libvirt has no firewall resource: the host's libvirt networks are the isolation, and
# the inbound rule set (local.firewall_rules) is rendered into an nftables table that
# cloud-init loads inside every VM.

provider "libvirt" {
  uri = var.libvirt_uri
}

# The run's name, tags, expiry and SSH keys: run_identity.tf (../modules/run-identity);
# libvirt objects carry no labels, so names are prefixed with the run id and each
# domain's description holds the tags as JSON.
locals {
  # Two bytes of the run id keep MAC addresses apart between runs on one host.
  mac_prefix = join(":", ["52:54:00", substr(sha1(var.run_id), 0, 2), substr(sha1(var.run_id), 2, 2)])

  nodes = [
    for i, n in module.run_identity.nodes : merge(n, {
      mgmt_ip    = cidrhost(var.management_cidr, 11 + i)
      private_ip = cidrhost(var.private_cidr, 11 + i)
      mgmt_mac   = format("%s:%02x", local.mac_prefix, i)
      swarm_mac  = format("%s:%02x", local.mac_prefix, 128 + i)
    })
  ]

  # Inbound rules of every VM. SSH only from the harness; swarm ports, VXLAN, ESP and
  # ICMP only from the isolated private network.
  firewall_rules = [
    { name = "ssh", protocol = "tcp", port = "22", source = var.ssh_allowed_cidr },
    { name = "swarm-manager", protocol = "tcp", port = "2377", source = var.private_cidr },
    { name = "gossip-tcp", protocol = "tcp", port = "7946", source = var.private_cidr },
    { name = "gossip-udp", protocol = "udp", port = "7946", source = var.private_cidr },
    { name = "vxlan", protocol = "udp", port = tostring(var.data_path_port), source = var.private_cidr },
    { name = "esp", protocol = "esp", port = null, source = var.private_cidr },
    { name = "icmp", protocol = "icmp", port = null, source = var.private_cidr },
    { name = "published", protocol = "tcp", port = "${var.published_port_range.from}-${var.published_port_range.to}", source = var.private_cidr },
  ]

  # Loaded by swarm-harness-firewall.service (cloud-init). Its own table, so neither
  # Docker's iptables-nft rules nor Debian's /etc/nftables.conf are touched.
  nftables_rules = join("\n", concat(
    [
      "table inet swarm_harness",
      "delete table inet swarm_harness",
      "table inet swarm_harness {",
      "  chain input {",
      "    type filter hook input priority filter + 10; policy drop;",
      "    ct state established,related accept",
      "    ct state invalid drop",
      "    iif \"lo\" accept",
      "    iifname { \"docker0\", \"docker_gwbridge\" } accept",
      "    meta l4proto ipv6-icmp accept",
    ],
    [
      for r in local.firewall_rules : (
        r.port == null
        ? "    ip saddr ${r.source} ip protocol ${r.protocol} accept comment \"${r.name}\""
        : "    ip saddr ${r.source} ${r.protocol} dport ${r.port} accept comment \"${r.name}\""
      )
    ],
    ["  }", "}", ""],
  ))
}

# --- networks ---------------------------------------------------------------------------------------

resource "libvirt_network" "mgmt" {
  name      = "${local.name}-mgmt"
  mode      = "nat"
  addresses = [var.management_cidr]
  autostart = true

  # Addresses are static (cloud-init network config); dnsmasq only serves DNS.
  dhcp {
    enabled = false
  }

  dns {
    enabled    = true
    local_only = false
  }
}

# Isolated: no addresses, so the host has no IP on it and nothing is forwarded.
resource "libvirt_network" "swarm" {
  name      = "${local.name}-swarm"
  mode      = "none"
  autostart = true

  dhcp {
    enabled = false
  }

  dns {
    enabled = false
  }
}

# --- disks and cloud-init ------------------------------------------------------------------------

resource "libvirt_volume" "base" {
  name   = "${local.name}-base.qcow2"
  pool   = var.pool
  source = var.base_image_url
  format = "qcow2"
}

resource "libvirt_volume" "disk" {
  count          = local.node_count
  name           = "${local.name}-${local.nodes[count.index].name}.qcow2"
  pool           = var.pool
  base_volume_id = libvirt_volume.base.id
  size           = var.disk_size_gib * 1024 * 1024 * 1024
  format         = "qcow2"
}

resource "libvirt_cloudinit_disk" "init" {
  count          = local.node_count
  name           = "${local.name}-${local.nodes[count.index].name}-init.iso"
  pool           = var.pool
  user_data      = module.node_common.user_data[count.index]
  meta_data      = local.meta_data[count.index]
  network_config = local.network_config[count.index]
}

# --- nodes ------------------------------------------------------------------------------------------------

resource "libvirt_domain" "node" {
  count = local.node_count

  name        = "${local.name}-${local.nodes[count.index].name}"
  description = jsonencode(merge(local.tags, { role = local.nodes[count.index].role }))
  vcpu        = var.vcpu
  memory      = var.memory_mib
  cloudinit   = libvirt_cloudinit_disk.init[count.index].id
  autostart   = false

  cpu {
    mode = "host-passthrough"
  }

  disk {
    volume_id = libvirt_volume.disk[count.index].id
  }

  network_interface {
    network_id = libvirt_network.mgmt.id
    mac        = local.nodes[count.index].mgmt_mac
  }

  network_interface {
    network_id = libvirt_network.swarm.id
    mac        = local.nodes[count.index].swarm_mac
  }

  console {
    type        = "pty"
    target_type = "serial"
    target_port = "0"
  }
}
