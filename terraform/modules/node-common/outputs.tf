output "user_data" {
  description = "cloud-init user data per node, in node order (holds the node's private host key)."
  value       = local.user_data
  sensitive   = true
}

output "inventory" {
  description = "The harness inventory contract (schema_version 1), the shape terraform/local emits."
  value = {
    schema_version = 1
    provider       = var.inventory.provider
    ssh = {
      user             = "root"
      private_key_path = var.inventory.ssh_files.private_key_path
      known_hosts_path = local_file.known_hosts.filename
      port             = 22
    }
    nodes = [
      for i, n in var.nodes : {
        name    = n.name
        address = var.addresses[i].address
        role    = n.role
        labels = merge({
          "harness.provider" = var.inventory.provider
          "harness.engine"   = var.engine.version
          "harness.zone"     = var.inventory.zone
        }, lookup(var.inventory.node_labels, n.name, {}))
        data_path_address = var.addresses[i].data_path_address
        upgrade_command   = null
      }
    ]
    registry        = null
    upgrade_command = var.engine.upgrade_to == null ? null : "${local.install_docker_path} ${var.engine.upgrade_to}"
    provider_data   = merge(local.shared_provider_data, var.inventory.provider_data)
  }
}
