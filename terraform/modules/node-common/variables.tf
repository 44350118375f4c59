# Inputs from a cloud module (aws, hcloud, libvirt); the user-facing variables and their
# validation stay in that module.

variable "nodes" {
  type        = list(object({ name = string, role = string }))
  description = "The cluster's nodes in order (manager1, ..., worker1, ...): hostnames for cloud-init, names and roles for the inventory."
}

variable "ssh_keys" {
  type = object({
    client = object({ public_key_openssh = string })
    hosts  = list(object({ private_key_openssh = string, public_key_openssh = string }))
  })
  description = "The harness's client key (authorized for root) and one pre-generated host key per node, in node order."
}

variable "engine" {
  type        = object({ version = string, upgrade_to = string })
  description = "Docker Engine version cloud-init installs, and the one the inventory's upgrade_command moves a node to (null: no upgrade_command). The cloud module validates both."
}

variable "extra_packages" {
  type        = list(string)
  description = "Packages a cloud module needs beyond ca-certificates, curl and tcpdump."
  default     = []
}

variable "extra_write_files" {
  type        = list(object({ path = string, permissions = string, owner = string, content = string }))
  description = "cloud-init write_files entries written before the Engine install script."
  default     = []
}

variable "extra_runcmd" {
  type        = list(list(string))
  description = "cloud-init runcmd entries run before the Engine is installed."
  default     = []
}

variable "addresses" {
  type        = list(object({ address = string, data_path_address = string }))
  description = "Each node's SSH address and swarm data-path address, in node order."
}

variable "inventory" {
  type = object({
    provider      = string
    zone          = string
    ssh_files     = object({ private_key_path = string, known_hosts_path = string })
    node_labels   = map(map(string))
    provider_data = any
  })
  description = "What the inventory output needs beyond the nodes and their addresses: the SSH files, extra node labels, and provider_data (the run's values and the provider's own)."
}
