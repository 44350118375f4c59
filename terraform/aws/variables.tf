# The run's identity and the cluster's shape (run_id ... node_labels) are declared in
# run_variables.tf, a link to ../shared/run_variables.tf shared by aws, hcloud and libvirt.

# --- network and firewall ----------------------------------------------------------

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
  description = "VPC CIDR; nodes get addresses from its second /24. Keep it out of the swarm's --default-addr-pool."
  default     = "10.77.0.0/16"
  validation {
    condition     = can(cidrsubnet(var.private_cidr, 24 - tonumber(split("/", var.private_cidr)[1]), 1))
    error_message = "private_cidr must be an IPv4 CIDR of /16 to /23, such as 10.77.0.0/16."
  }
}

variable "data_path_port" {
  type        = number
  description = "UDP port of the VXLAN data path (docker swarm init --data-path-port); opened between nodes only."
  default     = 4789
  validation {
    condition     = var.data_path_port >= 1024 && var.data_path_port <= 49151
    error_message = "data_path_port must be within 1024-49151 (Docker's allowed range)."
  }
}

variable "published_port_range" {
  type = object({
    from = number
    to   = number
  })
  description = "TCP ports that suites publish through the routing mesh; opened between nodes only."
  default = {
    from = 30000
    to   = 30099
  }
  validation {
    condition     = var.published_port_range.from >= 1024 && var.published_port_range.from <= var.published_port_range.to && var.published_port_range.to <= 65535
    error_message = "published_port_range must satisfy 1024 <= from <= to <= 65535."
  }
}

# --- AWS ---------------------------------------------------------------------------------

variable "region" {
  type        = string
  description = "AWS region."
  default     = "eu-central-1"
}

variable "availability_zone" {
  type        = string
  description = "Availability zone of the subnet; null picks the region's first available zone."
  default     = null
}

variable "instance_type" {
  type        = string
  description = "EC2 instance type of every node (x86_64)."
  default     = "t3.small"
}

variable "ami_id" {
  type        = string
  description = "AMI to boot; null uses the newest official Debian 12 amd64 AMI (owner 136693071363)."
  default     = null
}

variable "root_volume_size_gb" {
  type        = number
  description = "Size of each node's encrypted gp3 root volume in GiB."
  default     = 20
  validation {
    condition     = var.root_volume_size_gb >= 8 && var.root_volume_size_gb <= 200
    error_message = "root_volume_size_gb must be between 8 and 200."
  }
}
