# The run's identity, the cluster's shape and the swarm ports (run_id ... node_labels,
# data_path_port, published_port_range) are declared in run_variables.tf, a link to
# ../shared/run_variables.tf shared by aws, hcloud and libvirt.

# ssh_allowed_cidr and private_cidr are declared in cloud_network.tf, a link to
# ../shared/cloud_network.tf shared with hcloud.

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
