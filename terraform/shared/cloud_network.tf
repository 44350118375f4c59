# What aws and hcloud declare alike: who may reach SSH, the private range the swarm
# travels on, the nodes' subnet in it and their addresses. Linked into both as
# cloud_network.tf; edit it here. (libvirt declares its own: its SSH source and isolated
# network have local defaults, and its nodes have two addresses each.)

variable "ssh_allowed_cidr" {
  type        = string
  description = "The only IPv4 CIDR allowed to reach 22/tcp (the machine running the harness, for example 203.0.113.7/32)."
  validation {
    condition     = can(cidrhost(var.ssh_allowed_cidr, 0)) && var.ssh_allowed_cidr != "0.0.0.0/0"
    error_message = "ssh_allowed_cidr must be an IPv4 CIDR narrower than 0.0.0.0/0, such as 203.0.113.7/32."
  }
}

variable "private_cidr" {
  type        = string
  description = "Private range the swarm travels on (AWS: the VPC; Hetzner: the private network, RFC 1918); nodes get addresses from its second /24. Keep it out of the swarm's --default-addr-pool."
  default     = "10.77.0.0/16"
  validation {
    condition     = can(cidrsubnet(var.private_cidr, 24 - tonumber(split("/", var.private_cidr)[1]), 1))
    error_message = "private_cidr must be an IPv4 CIDR of /16 to /23, such as 10.77.0.0/16."
  }
}

locals {
  subnet_cidr = cidrsubnet(var.private_cidr, 24 - tonumber(split("/", var.private_cidr)[1]), 1)

  nodes = [
    for i, n in module.run_identity.nodes : merge(n, { private_ip = cidrhost(local.subnet_cidr, 10 + i) })
  ]
}
