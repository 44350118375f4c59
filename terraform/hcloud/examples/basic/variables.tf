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

variable "ssh_allowed_cidr" {
  type        = string
  description = "Your IPv4 address as a /32 (for example the output of: curl -fsS https://checkip.amazonaws.com)."
}

variable "location" {
  type        = string
  description = "Hetzner Cloud location."
  default     = "fsn1"
}

