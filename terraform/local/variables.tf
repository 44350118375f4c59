variable "lab_name" {
  type        = string
  description = "Short lab name (1-8 chars, [a-z][a-z0-9]*); prefixes every bridge, namespace and machine the lab creates."
  default     = "lab"
  validation {
    condition     = can(regex("^[a-z][a-z0-9]{0,7}$", var.lab_name))
    error_message = "lab_name must be 1-8 characters: a lowercase letter, then lowercase letters or digits."
  }
}

variable "node_count" {
  type        = number
  description = "Number of lab machines (1-16)."
  default     = 3
  validation {
    condition     = var.node_count >= 1 && var.node_count <= 16 && floor(var.node_count) == var.node_count
    error_message = "node_count must be a whole number from 1 to 16."
  }
}

variable "manager_count" {
  type        = number
  description = "How many of the nodes (the first ones) are swarm managers; use an odd number."
  default     = 1
  validation {
    condition     = var.manager_count >= 1 && floor(var.manager_count) == var.manager_count
    error_message = "manager_count must be a whole number of at least 1."
  }
}

variable "image_release" {
  type        = string
  description = "Debian release of every machine's image: bookworm (Engine 20.10), trixie (Engine 26.1) or forky (Engine 28.5)."
  default     = "bookworm"
  validation {
    condition     = contains(["bookworm", "trixie", "forky"], var.image_release)
    error_message = "image_release must be bookworm, trixie or forky."
  }
}

variable "node_releases" {
  type        = map(string)
  description = "Per-node image release overrides, keyed by node name (for example { node3 = \"trixie\" })."
  default     = {}
  validation {
    condition     = alltrue([for r in values(var.node_releases) : contains(["bookworm", "trixie", "forky"], r)])
    error_message = "every node_releases value must be bookworm, trixie or forky."
  }
}

variable "subnet" {
  type        = string
  description = "IPv4 subnet of the lab LAN; .1 is the bridge, nodes start at .11. Must not overlap this machine's routes."
  default     = "198.18.0.0/24"
  validation {
    condition     = can(cidrhost(var.subnet, 0))
    error_message = "subnet must be an IPv4 CIDR such as 198.18.0.0/24."
  }
}

variable "run_dir" {
  type        = string
  description = "Run directory holding the SSH key pair and known_hosts of this lab (created by 'swarm-harness up')."
}

variable "harness_command" {
  type        = string
  description = "Command that runs the harness CLI (the 'up' command passes its own interpreter)."
  default     = "swarm-harness"
}

variable "node_labels" {
  type        = map(map(string))
  description = "Swarm node labels per node name."
  default     = {}
}

variable "machine_kind" {
  type        = string
  description = "Lab machines: \"nspawn\" containers sharing the host kernel, \"vm\" QEMU virtual machines or \"uml\" User-Mode Linux machines, both with their own kernel (IPVS and ESP available)."
  default     = "nspawn"

  validation {
    condition     = contains(["nspawn", "vm", "uml"], var.machine_kind)
    error_message = "machine_kind must be \"nspawn\", \"vm\" or \"uml\"."
  }
}
