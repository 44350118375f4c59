output "inventory" {
  description = "The harness inventory contract (schema_version 1), shared by every module under terraform/. address = management IP (SSH), data_path_address = isolated-network IP (swarm)."
  value = {
    schema_version = 1
    provider       = "libvirt"
    ssh = {
      user             = "root"
      private_key_path = local_sensitive_file.client_key.filename
      known_hosts_path = local_file.known_hosts.filename
      port             = 22
    }
    nodes = [
      for i, n in local.nodes : {
        name    = n.name
        address = n.mgmt_ip
        role    = n.role
        labels = merge({
          "harness.provider" = "libvirt"
          "harness.engine"   = var.docker_version
          "harness.zone"     = "local"
        }, lookup(var.node_labels, n.name, {}))
        data_path_address = n.private_ip
        upgrade_command   = null
      }
    ]
    registry        = null
    upgrade_command = var.upgrade_docker_version == null ? null : "${local.install_docker_path} ${var.upgrade_docker_version}"
    provider_data = {
      libvirt_uri       = var.libvirt_uri
      management_cidr   = var.management_cidr
      subnet_cidr       = var.private_cidr
      data_path_port    = var.data_path_port
      underlay_mtu      = 1500
      docker_version    = var.docker_version
      run_id            = var.run_id
      expires_at        = local.expires_at
      ssh_addresses     = { for n in local.nodes : n.name => n.mgmt_ip }
      private_addresses = { for n in local.nodes : n.name => n.private_ip }
      domain_ids        = { for i, n in local.nodes : n.name => libvirt_domain.node[i].id }
    }
  }
}

output "expires_at" {
  description = "When these VMs may be reaped (basic ISO 8601, UTC); also in every domain's description."
  value       = local.expires_at
}

output "nftables_rules" {
  description = "The in-guest nftables table every VM loads (libvirt has no firewall resource)."
  value       = local.nftables_rules
}
