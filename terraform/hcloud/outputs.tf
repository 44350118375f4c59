output "inventory" {
  description = "The harness inventory contract (schema_version 1), shared by every module under terraform/. address = public IPv4 (SSH), data_path_address = private IP (swarm)."
  value = {
    schema_version = 1
    provider       = "hcloud"
    ssh = {
      user             = "root"
      private_key_path = local_sensitive_file.client_key.filename
      known_hosts_path = local_file.known_hosts.filename
      port             = 22
    }
    nodes = [
      for i, n in local.nodes : {
        name    = n.name
        address = hcloud_server.node[i].ipv4_address
        role    = n.role
        labels = merge({
          "harness.provider" = "hcloud"
          "harness.engine"   = var.docker_version
          "harness.zone"     = var.location
        }, lookup(var.node_labels, n.name, {}))
        data_path_address = n.private_ip
        upgrade_command   = null
      }
    ]
    registry        = null
    upgrade_command = var.upgrade_docker_version == null ? null : "${local.install_docker_path} ${var.upgrade_docker_version}"
    provider_data = {
      location          = var.location
      network_zone      = var.network_zone
      network_id        = hcloud_network.this.id
      firewall_id       = hcloud_firewall.nodes.id
      subnet_cidr       = local.subnet_cidr
      data_path_port    = var.data_path_port
      underlay_mtu      = 1450 # Hetzner private networks carry 1450-byte packets
      docker_version    = var.docker_version
      run_id            = var.run_id
      expires_at        = local.expires_at
      ssh_addresses     = { for i, n in local.nodes : n.name => hcloud_server.node[i].ipv4_address }
      private_addresses = { for n in local.nodes : n.name => n.private_ip }
      server_ids        = { for i, n in local.nodes : n.name => hcloud_server.node[i].id }
    }
  }
}

output "expires_at" {
  description = "When these hosts may be reaped (basic ISO 8601, UTC); also the expires_at label of every resource."
  value       = local.expires_at
}
