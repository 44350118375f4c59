# The inventory output, and the cloud-init user data of every node, shaped by
# ../modules/node-common, shared with hcloud and libvirt: the pinned Docker Engine,
# tcpdump, root login with the harness's key, the node's own pre-generated SSH host key.

output "inventory" {
  description = "The harness inventory contract (schema_version 1), shared by every module under terraform/. address = public IP (SSH), data_path_address = private IP (swarm)."
  value       = module.node_common.inventory
}

module "node_common" {
  source = "../modules/node-common"

  # address = public IP (SSH), data_path_address = private IP (swarm).
  addresses = [for i, n in local.nodes : { address = aws_instance.node[i].public_ip, data_path_address = aws_instance.node[i].private_ip }]
  inventory = {
    provider = "aws"
    provider_data = { # the run's values and this provider's own, by name
      availability_zone = aws_subnet.nodes.availability_zone
      data_path_port    = var.data_path_port
      expires_at        = local.expires_at
      instance_ids      = { for i, n in local.nodes : n.name => aws_instance.node[i].id }
      region            = var.region
      run_id            = var.run_id
      security_group_id = aws_security_group.nodes.id
      subnet_cidr       = local.subnet_cidr
      underlay_mtu      = 9001 # VPC-internal MTU (jumbo frames on current instance types)
      vpc_id            = aws_vpc.this.id
    }
    zone        = aws_subnet.nodes.availability_zone
    ssh_files   = module.run_identity.ssh_files
    node_labels = var.node_labels
  }

  # cloud-init
  nodes    = local.nodes
  ssh_keys = module.run_identity.ssh_keys
  engine   = { version = var.docker_version, upgrade_to = var.upgrade_docker_version }
}

