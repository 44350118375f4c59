locals {
  # provider_data keys every cloud module has; the caller's provider_data adds the rest.
  shared_provider_data = {
    docker_version    = var.engine.version
    ssh_addresses     = { for i, n in var.nodes : n.name => var.addresses[i].address }
    private_addresses = { for i, n in var.nodes : n.name => var.addresses[i].data_path_address }
  }
}

# Every node's SSH and data-path address with the host key cloud-init installs on it: the
# harness connects only to a host whose key is pinned here.
resource "local_file" "known_hosts" {
  filename             = var.inventory.ssh_files.known_hosts_path
  file_permission      = "0644"
  directory_permission = "0700"
  content = join("", [
    for i, a in var.addresses :
    "${a.address},${a.data_path_address} ${trimspace(var.ssh_keys.hosts[i].public_key_openssh)}\n"
  ])
}
