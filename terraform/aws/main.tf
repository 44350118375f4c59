# Swarm hosts on AWS EC2: one VPC, one public subnet, one security group.
#
# The harness SSHes to each node's public IP (22/tcp from var.ssh_allowed_cidr only);
# swarm traffic (2377/tcp, 7946/tcp+udp, VXLAN, ESP) is allowed only from members of
# the nodes' own security group, i.e. over the private addresses.

provider "aws" {
  region = var.region
}

# The run's name, tags, expiry and SSH keys: run_identity.tf (../modules/run-identity);
# the subnet and node addresses: cloud_network.tf.

# --- network -----------------------------------------------------------------------------------

data "aws_availability_zones" "available" {
  state = "available"
}

resource "aws_vpc" "this" {
  cidr_block           = var.private_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(local.tags, { Name = local.name })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(local.tags, { Name = local.name })
}

resource "aws_subnet" "nodes" {
  vpc_id                  = aws_vpc.this.id
  cidr_block              = local.subnet_cidr
  availability_zone       = coalesce(var.availability_zone, data.aws_availability_zones.available.names[0])
  map_public_ip_on_launch = true
  tags                    = merge(local.tags, { Name = "${local.name}-nodes" })
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.this.id
  }

  tags = merge(local.tags, { Name = "${local.name}-public" })
}

resource "aws_route_table_association" "nodes" {
  subnet_id      = aws_subnet.nodes.id
  route_table_id = aws_route_table.public.id
}

# --- firewall: the security group and its rules -------------------------------------------------

resource "aws_security_group" "nodes" {
  name        = "${local.name}-nodes"
  description = "Swarm harness nodes of run ${var.run_id}"
  vpc_id      = aws_vpc.this.id
  tags        = merge(local.tags, { Name = "${local.name}-nodes" })
}

resource "aws_vpc_security_group_ingress_rule" "ssh" {
  security_group_id = aws_security_group.nodes.id
  description       = "SSH from the harness only"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = var.ssh_allowed_cidr
  tags              = merge(local.tags, { Name = "${local.name}-ssh" })
}

resource "aws_vpc_security_group_ingress_rule" "swarm_manager" {
  security_group_id            = aws_security_group.nodes.id
  description                  = "Swarm cluster management (raft, join) between nodes"
  ip_protocol                  = "tcp"
  from_port                    = 2377
  to_port                      = 2377
  referenced_security_group_id = aws_security_group.nodes.id
  tags                         = merge(local.tags, { Name = "${local.name}-swarm-manager" })
}

resource "aws_vpc_security_group_ingress_rule" "gossip_tcp" {
  security_group_id            = aws_security_group.nodes.id
  description                  = "Swarm node gossip (memberlist) between nodes"
  ip_protocol                  = "tcp"
  from_port                    = 7946
  to_port                      = 7946
  referenced_security_group_id = aws_security_group.nodes.id
  tags                         = merge(local.tags, { Name = "${local.name}-gossip-tcp" })
}

resource "aws_vpc_security_group_ingress_rule" "gossip_udp" {
  security_group_id            = aws_security_group.nodes.id
  description                  = "Swarm node gossip (memberlist) between nodes"
  ip_protocol                  = "udp"
  from_port                    = 7946
  to_port                      = 7946
  referenced_security_group_id = aws_security_group.nodes.id
  tags                         = merge(local.tags, { Name = "${local.name}-gossip-udp" })
}

resource "aws_vpc_security_group_ingress_rule" "vxlan" {
  security_group_id            = aws_security_group.nodes.id
  description                  = "Overlay data path (VXLAN) between nodes"
  ip_protocol                  = "udp"
  from_port                    = var.data_path_port
  to_port                      = var.data_path_port
  referenced_security_group_id = aws_security_group.nodes.id
  tags                         = merge(local.tags, { Name = "${local.name}-vxlan" })
}

resource "aws_vpc_security_group_ingress_rule" "esp" {
  security_group_id            = aws_security_group.nodes.id
  description                  = "Encrypted overlays: IPsec ESP (IP protocol 50) between nodes"
  ip_protocol                  = "50"
  referenced_security_group_id = aws_security_group.nodes.id
  tags                         = merge(local.tags, { Name = "${local.name}-esp" })
}

resource "aws_vpc_security_group_ingress_rule" "icmp" {
  security_group_id            = aws_security_group.nodes.id
  description                  = "ICMP between nodes (don't-fragment MTU probes, path MTU discovery)"
  ip_protocol                  = "icmp"
  from_port                    = -1
  to_port                      = -1
  referenced_security_group_id = aws_security_group.nodes.id
  tags                         = merge(local.tags, { Name = "${local.name}-icmp" })
}

resource "aws_vpc_security_group_ingress_rule" "published" {
  security_group_id            = aws_security_group.nodes.id
  description                  = "Routing-mesh published ports, probed from every node"
  ip_protocol                  = "tcp"
  from_port                    = var.published_port_range.from
  to_port                      = var.published_port_range.to
  referenced_security_group_id = aws_security_group.nodes.id
  tags                         = merge(local.tags, { Name = "${local.name}-published" })
}

resource "aws_vpc_security_group_egress_rule" "all" {
  security_group_id = aws_security_group.nodes.id
  description       = "Outbound: package mirrors, download.docker.com"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
  tags              = merge(local.tags, { Name = "${local.name}-egress" })
}

# --- nodes ----------------------------------------------------------------------------------------

data "aws_ami" "debian" {
  count       = var.ami_id == null ? 1 : 0
  most_recent = true
  owners      = ["136693071363"] # Debian cloud team

  filter {
    name   = "name"
    values = ["debian-12-amd64-*"]
  }

  filter {
    name   = "architecture"
    values = ["x86_64"]
  }
}

resource "aws_instance" "node" {
  count = local.node_count

  ami                         = var.ami_id != null ? var.ami_id : data.aws_ami.debian[0].id
  instance_type               = var.instance_type
  subnet_id                   = aws_subnet.nodes.id
  private_ip                  = local.nodes[count.index].private_ip
  vpc_security_group_ids      = [aws_security_group.nodes.id]
  user_data                   = module.node_common.user_data[count.index]
  user_data_replace_on_change = true

  metadata_options {
    http_tokens   = "required"
    http_endpoint = "enabled"
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = var.root_volume_size_gb
    encrypted   = true
    tags        = merge(local.tags, { Name = "${local.name}-${local.nodes[count.index].name}" })
  }

  tags = merge(local.tags, {
    Name = "${local.name}-${local.nodes[count.index].name}"
    role = local.nodes[count.index].role
  })

  # A newer Debian AMI must not replace the hosts of a running cluster.
  lifecycle {
    ignore_changes = [ami]
  }

  depends_on = [aws_route_table_association.nodes]
}
