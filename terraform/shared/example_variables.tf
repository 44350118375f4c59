# Inputs every cloud module's example (examples/basic) declares alike. Linked into each
# as run_variables.tf; edit it here.

variable "run_id" {
  type        = string
  description = "Run id: tags every resource and prefixes every name (lowercase letters, digits, '-')."
}

variable "owner" {
  type        = string
  description = "Who pays for and cleans up these hosts."
}

variable "run_dir" {
  type        = string
  description = "Absolute path of the directory that receives ssh/id_ed25519 and ssh/known_hosts."
}

variable "docker_version" {
  type        = string
  description = "Docker Engine version to install on every node."
  default     = "27.5.1"
}
