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
  description = "Hetzner private network range (RFC 1918); nodes get addresses from its second /24. Keep it out of the swarm's --default-addr-pool."
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
