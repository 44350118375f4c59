# Inputs every cloud module (aws, hcloud, libvirt) declares alike: the run's identity
# and the cluster's shape. Terraform cannot share variable declarations between root
# modules, so this one file is linked into each of them as run_variables.tf; edit it
# here, and every cloud module's inputs change together.

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

# --- swarm ports -----------------------------------------------------------------

variable "data_path_port" {
  type        = number
  description = "UDP port of the VXLAN data path (docker swarm init --data-path-port); allowed between the nodes only."
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
  description = "TCP ports that suites publish through the routing mesh; allowed between the nodes only."
  default = {
    from = 30000
    to   = 30099
  }
  validation {
    condition     = var.published_port_range.from >= 1024 && var.published_port_range.from <= var.published_port_range.to && var.published_port_range.to <= 65535
    error_message = "published_port_range must satisfy 1024 <= from <= to <= 65535."
  }
}
