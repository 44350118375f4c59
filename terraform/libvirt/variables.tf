# --- run identity: every resource is tagged with these -------------------------

variable "run_id" {
  type        = string
  description = "Run id of the harness run directory (run.json); tags every resource and prefixes every name."
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,39}$", var.run_id))
    error_message = "run_id must be 1-40 characters of lowercase letters, digits and '-', starting with a letter or digit."
  }
}

variable "owner" {
  type        = string
  description = "Who pays for and cleans up these hosts (a user or team name); tags every resource."
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]{0,62}$", var.owner))
    error_message = "owner must be 1-63 characters of lowercase letters, digits, '.', '_' and '-'."
  }
}

variable "ttl_hours" {
  type        = number
  description = "Hours after the first apply at which the hosts may be reaped; written to the expires_at tag."
  default     = 8
  validation {
    condition     = var.ttl_hours >= 1 && var.ttl_hours <= 168
    error_message = "ttl_hours must be between 1 and 168 (one week)."
  }
}

variable "expires_at" {
  type        = string
  description = "Explicit expiry as an RFC 3339 timestamp (for example 2030-01-31T18:00:00Z); overrides ttl_hours."
  default     = null
  validation {
    condition     = var.expires_at == null || can(formatdate("YYYY", var.expires_at))
    error_message = "expires_at must be an RFC 3339 timestamp such as 2030-01-31T18:00:00Z."
  }
}

variable "run_dir" {
  type        = string
  description = "Run directory: the client SSH key is written to RUN_DIR/ssh/id_ed25519 and host keys to RUN_DIR/ssh/known_hosts."
}

# --- cluster shape ---------------------------------------------------------------

variable "manager_count" {
  type        = number
  description = "Number of swarm managers (use an odd number: 1, 3 or 5)."
  default     = 1
  validation {
    condition     = var.manager_count >= 1 && var.manager_count <= 7 && floor(var.manager_count) == var.manager_count
    error_message = "manager_count must be a whole number from 1 to 7."
  }
}

variable "worker_count" {
  type        = number
  description = "Number of swarm workers."
  default     = 2
  validation {
    condition     = var.worker_count >= 0 && var.worker_count <= 20 && floor(var.worker_count) == var.worker_count
    error_message = "worker_count must be a whole number from 0 to 20."
  }
}

variable "docker_version" {
  type        = string
  description = "Docker Engine version installed by cloud-init from download.docker.com and held (for example 27.5.1)."
  default     = "27.5.1"
  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.docker_version))
    error_message = "docker_version must look like 27.5.1."
  }
}

variable "upgrade_docker_version" {
  type        = string
  description = "Engine version the inventory's upgrade_command moves a node to; null leaves upgrade_command unset."
  default     = null
  validation {
    condition     = var.upgrade_docker_version == null || can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.upgrade_docker_version))
    error_message = "upgrade_docker_version must look like 28.0.4, or be null."
  }
}

variable "node_labels" {
  type        = map(map(string))
  description = "Swarm node labels per node name (manager1, worker1, ...), merged into the inventory."
  default     = {}
}

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

variable "data_path_port" {
  type        = number
  description = "UDP port of the VXLAN data path (docker swarm init --data-path-port); accepted from the private network only."
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
  description = "TCP ports that suites publish through the routing mesh; accepted from the private network only."
  default = {
    from = 30000
    to   = 30099
  }
  validation {
    condition     = var.published_port_range.from >= 1024 && var.published_port_range.from <= var.published_port_range.to && var.published_port_range.to <= 65535
    error_message = "published_port_range must satisfy 1024 <= from <= to <= 65535."
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
