# cloud-init of every node. The user data and the inventory output's shape come from
# ../modules/node-common, shared with aws and hcloud (the pinned Docker Engine, tcpdump,
# root login with the harness's key, the node's own pre-generated SSH host key); this
# module adds the nftables rule set, and static addresses on both NICs (matched by MAC
# address) in the network config.

output "inventory" {
  description = "The harness inventory contract (schema_version 1), shared by every module under terraform/. address = management IP (SSH), data_path_address = isolated-network IP (swarm)."
  value       = module.node_common.inventory
}

module "node_common" {
  source = "../modules/node-common"

  # address = management IP (SSH), data_path_address = isolated-network IP (swarm).
  addresses = [for n in local.nodes : { address = n.mgmt_ip, data_path_address = n.private_ip }]
  inventory = {
    provider = "libvirt"
    provider_data = { # the run's values and this provider's own, by name
      data_path_port  = var.data_path_port
      domain_ids      = { for i, n in local.nodes : n.name => libvirt_domain.node[i].id }
      expires_at      = local.expires_at
      libvirt_uri     = var.libvirt_uri
      management_cidr = var.management_cidr
      run_id          = var.run_id
      subnet_cidr     = var.private_cidr
      underlay_mtu    = 1500
    }
    zone        = "local"
    ssh_files   = module.run_identity.ssh_files
    node_labels = var.node_labels
  }

  # cloud-init
  nodes          = local.nodes
  ssh_keys       = module.run_identity.ssh_keys
  engine         = { version = var.docker_version, upgrade_to = var.upgrade_docker_version }
  extra_packages = ["nftables"]
  extra_write_files = [
    {
      path        = "/etc/swarm-harness/nftables.nft"
      permissions = "0644"
      owner       = "root:root"
      content     = local.nftables_rules
    },
    {
      path        = "/etc/systemd/system/swarm-harness-firewall.service"
      permissions = "0644"
      owner       = "root:root"
      content     = local.firewall_unit
    },
  ]
  extra_runcmd = [
    ["systemctl", "daemon-reload"],
    ["systemctl", "enable", "--now", "swarm-harness-firewall.service"],
  ]

}

locals {
  firewall_unit = <<-EOT
    [Unit]
    Description=swarm-harness node firewall (nftables table inet swarm_harness)
    Wants=network-pre.target
    Before=network-pre.target docker.service

    [Service]
    Type=oneshot
    RemainAfterExit=yes
    ExecStart=/usr/sbin/nft -f /etc/swarm-harness/nftables.nft
    ExecStop=/usr/sbin/nft delete table inet swarm_harness

    [Install]
    WantedBy=multi-user.target
  EOT

  meta_data = [
    for n in local.nodes : yamlencode({
      instance-id    = "${local.name}-${n.name}"
      local-hostname = n.name
    })
  ]

  network_config = [
    for n in local.nodes : yamlencode({
      version = 2
      ethernets = {
        mgmt0 = {
          match       = { macaddress = n.mgmt_mac }
          set-name    = "mgmt0"
          addresses   = ["${n.mgmt_ip}/${split("/", var.management_cidr)[1]}"]
          routes      = [{ to = "0.0.0.0/0", via = cidrhost(var.management_cidr, 1) }]
          nameservers = { addresses = [cidrhost(var.management_cidr, 1)] }
        }
        swarm0 = {
          match     = { macaddress = n.swarm_mac }
          set-name  = "swarm0"
          addresses = ["${n.private_ip}/${split("/", var.private_cidr)[1]}"]
        }
      }
    })
  ]
}
