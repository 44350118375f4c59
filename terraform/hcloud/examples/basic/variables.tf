# run_id, owner, run_dir and docker_version are declared in run_variables.tf, a link to
# ../../../shared/example_variables.tf shared by every cloud module's example.

variable "ssh_allowed_cidr" {
  type        = string
  description = "Your IPv4 address as a /32 (for example the output of: curl -fsS https://checkip.amazonaws.com)."
}

variable "location" {
  type        = string
  description = "Hetzner Cloud location."
  default     = "fsn1"
}
