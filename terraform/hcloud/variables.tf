# The run's identity, the cluster's shape and the swarm ports (run_id ... node_labels,
# data_path_port, published_port_range) are declared in run_variables.tf, a link to
# ../shared/run_variables.tf shared by aws, hcloud and libvirt.

# ssh_allowed_cidr and private_cidr are declared in cloud_network.tf, a link to
# ../shared/cloud_network.tf shared with aws.

# --- Hetzner Cloud ------------------------------------------------------------------------

variable "hcloud_token" {
  type        = string
  description = "Hetzner Cloud API token (read/write); null reads it from the HCLOUD_TOKEN environment variable."
  default     = null
  sensitive   = true
}

variable "location" {
  type        = string
  description = "Hetzner Cloud location of every server (fsn1, nbg1, hel1, ash, hil, sin)."
  default     = "fsn1"
}

variable "network_zone" {
  type        = string
  description = "Network zone of the private subnet; must contain var.location (eu-central for fsn1/nbg1/hel1)."
  default     = "eu-central"
}

variable "server_type" {
  type        = string
  description = "Server type of every node (x86_64 shared vCPU types such as cx22 are the cheapest)."
  default     = "cx22"
}

variable "image" {
  type        = string
  description = "Server image; the cloud-init script expects Debian (download.docker.com/linux/debian)."
  default     = "debian-12"
  validation {
    condition     = startswith(var.image, "debian-")
    error_message = "image must be a Debian image such as debian-12."
  }
}
