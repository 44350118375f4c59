# What every cloud module creates before its hosts: the run's names and tags, its expiry,
# the node list, the harness's SSH client key and one pre-generated host key per node.

# The expiry is fixed at the first apply (the input is then ignored), so tags, labels and
# libvirt domain descriptions do not change on every plan. var.expires_at, when set,
# takes precedence.
resource "terraform_data" "expiry" {
  input = timeadd(plantimestamp(), "${var.ttl_hours}h")

  lifecycle {
    ignore_changes = [input]
  }
}

locals {
  node_count = var.manager_count + var.worker_count

  # Basic ISO 8601 (20300131T180000Z): valid as a tag on every cloud (Hetzner label
  # values may not contain ':').
  expires_at = formatdate("YYYYMMDD'T'hhmmss'Z'", coalesce(var.expires_at, terraform_data.expiry.output))

  tags = {
    run_id     = var.run_id
    owner      = var.owner
    expires_at = local.expires_at
    managed_by = "swarm-harness"
  }

  nodes = [
    for i in range(local.node_count) : {
      name = i < var.manager_count ? "manager${i + 1}" : "worker${i - var.manager_count + 1}"
      role = i < var.manager_count ? "manager" : "worker"
    }
  ]
}

# The harness's client key.
resource "tls_private_key" "client" {
  algorithm = "ED25519"
}

# One host key per node, installed by cloud-init, so known_hosts is complete before the
# first connection and the harness never has to trust a key on first use.
resource "tls_private_key" "host" {
  count     = local.node_count
  algorithm = "ED25519"
}

resource "local_sensitive_file" "client_key" {
  filename             = "${var.run_dir}/ssh/id_ed25519"
  content              = tls_private_key.client.private_key_openssh
  file_permission      = "0600"
  directory_permission = "0700"
}

resource "local_file" "client_public_key" {
  filename             = "${var.run_dir}/ssh/id_ed25519.pub"
  content              = tls_private_key.client.public_key_openssh
  file_permission      = "0644"
  directory_permission = "0700"
}
