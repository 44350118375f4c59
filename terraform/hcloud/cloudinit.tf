# The inventory output, and the cloud-init user data of every node, shaped by
# ../modules/node-common, shared with aws and libvirt: the pinned Docker Engine,
# tcpdump, root login with the harness's key, the node's own pre-generated SSH host key.

output "inventory" {
  description = "The harness inventory contract (schema_version 1), shared by every module under terraform/. address = public IPv4 (SSH), data_path_address = private IP (swarm)."
  value       = module.node_common.inventory
}

module "node_common" {
  source = "../modules/node-common"

  # address = public IPv4 (SSH), data_path_address = private IP (swarm).
  addresses = [for i, n in local.nodes : { address = hcloud_server.node[i].ipv4_address, data_path_address = n.private_ip }]
  inventory = {
    provider = "hcloud"
    provider_data = { # the run's values and this provider's own, by name
      data_path_port = var.data_path_port
      expires_at     = local.expires_at
      firewall_id    = hcloud_firewall.nodes.id
      location       = var.location
      network_id     = hcloud_network.this.id
      network_zone   = var.network_zone
      run_id         = var.run_id
      server_ids     = { for i, n in local.nodes : n.name => hcloud_server.node[i].id }
      subnet_cidr    = local.subnet_cidr
      underlay_mtu   = 1450 # Hetzner private networks carry 1450-byte packets
    }
    zone        = var.location
    ssh_files   = module.run_identity.ssh_files
    node_labels = var.node_labels
  }

  # cloud-init
  nodes    = local.nodes
  ssh_keys = module.run_identity.ssh_keys
  engine   = { version = var.docker_version, upgrade_to = var.upgrade_docker_version }
}

