# The run's identity, the cluster's shape and the swarm ports (run_id ... node_labels,
# data_path_port, published_port_range) are declared in run_variables.tf, a link to
# ../shared/run_variables.tf shared by aws, hcloud and libvirt.

# --- networks and firewall --------------------------------------------------------------------

variable "management_cidr" {
  type        = string
  description = "NAT network the harness reaches the VMs on (SSH) and the VMs reach mirrors through; the host is .1, nodes start at .11."
  default     = "198.18.100.0/24"
  validation {
    condition     = can(cidrhost(var.management_cidr, 11))
    error_message = "management_cidr must be an IPv4 CIDR such as 198.18.100.0/24."
  }
}

variable "private_cidr" {
  type        = string
  description = "Isolated libvirt network (no host address, no forwarding) that carries swarm traffic; nodes start at .11."
  default     = "198.18.101.0/24"
  validation {
    condition     = can(cidrhost(var.private_cidr, 11))
    error_message = "private_cidr must be an IPv4 CIDR such as 198.18.101.0/24."
  }
}

variable "ssh_allowed_cidr" {
  type        = string
  description = "The only IPv4 CIDR the in-guest nftables rules accept 22/tcp from: the libvirt host's address on management_cidr."
  default     = "198.18.100.1/32"
  validation {
    condition     = can(cidrhost(var.ssh_allowed_cidr, 0)) && var.ssh_allowed_cidr != "0.0.0.0/0"
    error_message = "ssh_allowed_cidr must be an IPv4 CIDR narrower than 0.0.0.0/0, such as 198.18.100.1/32."
  }
}

# --- libvirt -------------------------------------------------------------------------------------------

variable "libvirt_uri" {
  type        = string
  description = "libvirt connection URI."
  default     = "qemu:///system"
}

variable "pool" {
  type        = string
  description = "Existing libvirt storage pool for the base image, node disks and cloud-init ISOs."
  default     = "default"
}

variable "base_image_url" {
  type        = string
  description = "Debian 12 cloud image (qcow2) every node disk is a copy-on-write overlay of; a URL or an absolute local path."
  default     = "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2"
}

variable "vcpu" {
  type        = number
  description = "Virtual CPUs per node."
  default     = 2
  validation {
    condition     = var.vcpu >= 1 && floor(var.vcpu) == var.vcpu
    error_message = "vcpu must be a whole number of at least 1."
  }
}

variable "memory_mib" {
  type        = number
  description = "Memory per node in MiB."
  default     = 2048
  validation {
    condition     = var.memory_mib >= 1024
    error_message = "memory_mib must be at least 1024 (dockerd and the probe images need it)."
  }
}

variable "disk_size_gib" {
  type        = number
  description = "Size of each node's disk in GiB (an overlay on the base image)."
  default     = 10
  validation {
    condition     = var.disk_size_gib >= 4
    error_message = "disk_size_gib must be at least 4."
  }
}
