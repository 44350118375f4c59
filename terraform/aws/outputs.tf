output "inventory" {
  description = "The harness inventory contract (schema_version 1), shared by every module under terraform/. address = public IP (SSH), data_path_address = private IP (swarm)."
  value = {
    schema_version = 1
    provider       = "aws"
    ssh = {
      user             = "root"
      private_key_path = local_sensitive_file.client_key.filename
      known_hosts_path = local_file.known_hosts.filename
      port             = 22
    }
    nodes = [
      for i, n in local.nodes : {
        name    = n.name
        address = aws_instance.node[i].public_ip
        role    = n.role
        labels = merge({
          "harness.provider" = "aws"
          "harness.engine"   = var.docker_version
          "harness.zone"     = aws_subnet.nodes.availability_zone
        }, lookup(var.node_labels, n.name, {}))
        data_path_address = aws_instance.node[i].private_ip
        upgrade_command   = null
      }
    ]
    registry        = null
    upgrade_command = var.upgrade_docker_version == null ? null : "${local.install_docker_path} ${var.upgrade_docker_version}"
    provider_data = {
      region            = var.region
      availability_zone = aws_subnet.nodes.availability_zone
      vpc_id            = aws_vpc.this.id
      security_group_id = aws_security_group.nodes.id
      subnet_cidr       = local.subnet_cidr
      data_path_port    = var.data_path_port
      underlay_mtu      = 9001 # VPC-internal MTU (jumbo frames on current instance types)
      docker_version    = var.docker_version
      run_id            = var.run_id
      expires_at        = local.expires_at
      ssh_addresses     = { for i, n in local.nodes : n.name => aws_instance.node[i].public_ip }
      private_addresses = { for i, n in local.nodes : n.name => aws_instance.node[i].private_ip }
      instance_ids      = { for i, n in local.nodes : n.name => aws_instance.node[i].id }
    }
  }
}

output "expires_at" {
  description = "When these hosts may be reaped (basic ISO 8601, UTC); also the expires_at tag of every resource."
  value       = local.expires_at
}
