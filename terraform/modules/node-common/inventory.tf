locals {
  # provider_data keys every cloud module has; the caller's provider_data adds the rest.
  shared_provider_data = {
    docker_version    = var.engine.version
    ssh_addresses     = { for i, n in var.nodes : n.name => var.addresses[i].address }
    private_addresses = { for i, n in var.nodes : n.name => var.addresses[i].data_path_address }
  }
}
