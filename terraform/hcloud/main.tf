# Swarm hosts on Hetzner Cloud: one private network, one firewall, one server per node.
#
# The harness SSHes to each server's public IPv4 (22/tcp from var.ssh_allowed_cidr only).
# Swarm traffic travels over the private network. Hetzner Cloud firewalls filter the
# public interface only: the swarm rules below name the private network as their
# source, so none of those ports is reachable from the internet, and on the private
# network only servers of this run exist.

provider "hcloud" {
  token = var.hcloud_token
}

# The run's name, tags, expiry and SSH keys: run_identity.tf (../modules/run-identity);
# the subnet and node addresses: cloud_network.tf.

# Registered so Hetzner does not e-mail a root password; cloud-init installs the same key.
resource "hcloud_ssh_key" "client" {
  name       = local.name
  public_key = module.run_identity.client_public_key
  labels     = local.tags
}

# --- network ----------------------------------------------------------------------------------------

resource "hcloud_network" "this" {
  name     = local.name
  ip_range = var.private_cidr
  labels   = local.tags
}

resource "hcloud_network_subnet" "nodes" {
  network_id   = hcloud_network.this.id
  type         = "cloud"
  network_zone = var.network_zone
  ip_range     = local.subnet_cidr
}

# --- firewall ------------------------------------------------------------------------------------------

resource "hcloud_firewall" "nodes" {
  name   = local.name
  labels = local.tags

  rule {
    description = "SSH from the harness only"
    direction   = "in"
    protocol    = "tcp"
    port        = "22"
    source_ips  = [var.ssh_allowed_cidr]
  }

  rule {
    description = "Swarm cluster management (raft, join) between nodes"
    direction   = "in"
    protocol    = "tcp"
    port        = "2377"
    source_ips  = [var.private_cidr]
  }

  rule {
    description = "Swarm node gossip (memberlist) between nodes"
    direction   = "in"
    protocol    = "tcp"
    port        = "7946"
    source_ips  = [var.private_cidr]
  }

  rule {
    description = "Swarm node gossip (memberlist) between nodes"
    direction   = "in"
    protocol    = "udp"
    port        = "7946"
    source_ips  = [var.private_cidr]
  }

  rule {
    description = "Overlay data path (VXLAN) between nodes"
    direction   = "in"
    protocol    = "udp"
    port        = tostring(var.data_path_port)
    source_ips  = [var.private_cidr]
  }

  rule {
    description = "Encrypted overlays: IPsec ESP (IP protocol 50) between nodes"
    direction   = "in"
    protocol    = "esp"
    source_ips  = [var.private_cidr]
  }

  rule {
    description = "ICMP between nodes (don't-fragment MTU probes, path MTU discovery)"
    direction   = "in"
    protocol    = "icmp"
    source_ips  = [var.private_cidr]
  }

  rule {
    description = "Routing-mesh published ports, probed from every node"
    direction   = "in"
    protocol    = "tcp"
    port        = "${var.published_port_range.from}-${var.published_port_range.to}"
    source_ips  = [var.private_cidr]
  }
}

# --- nodes ---------------------------------------------------------------------------------------------

resource "hcloud_server" "node" {
  count = local.node_count

  name         = "${local.name}-${local.nodes[count.index].name}"
  server_type  = var.server_type
  image        = var.image
  location     = var.location
  ssh_keys     = [hcloud_ssh_key.client.id]
  firewall_ids = [hcloud_firewall.nodes.id]
  user_data    = module.node_common.user_data[count.index]
  labels       = merge(local.tags, { role = local.nodes[count.index].role })

  public_net {
    ipv4_enabled = true
    ipv6_enabled = false
  }

  network {
    network_id = hcloud_network.this.id
    ip         = local.nodes[count.index].private_ip
  }

  # The subnet must exist before a server joins the network (provider documentation).
  depends_on = [hcloud_network_subnet.nodes]
}
