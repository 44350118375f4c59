# Inputs from a cloud module (aws, hcloud, libvirt), which declares and validates them
# for its users in run_variables.tf.

variable "run_id" {
  type        = string
  description = "Run id of the harness run directory; prefixes every name and tags every resource."
}

variable "owner" {
  type        = string
  description = "Who pays for and cleans up these hosts; a tag of every resource."
}

variable "ttl_hours" {
  type        = number
  description = "Hours after the first apply at which the hosts may be reaped."
}

variable "expires_at" {
  type        = string
  description = "Explicit expiry (RFC 3339), or null for the first apply plus ttl_hours."
}

variable "manager_count" {
  type        = number
  description = "Number of swarm managers; they are the first nodes (manager1, manager2, ...)."
}

variable "worker_count" {
  type        = number
  description = "Number of swarm workers, after the managers (worker1, worker2, ...)."
}

variable "run_dir" {
  type        = string
  description = "Run directory; the client key goes to RUN_DIR/ssh/id_ed25519 (known_hosts is written by node-common)."
}
