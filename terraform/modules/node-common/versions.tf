terraform {
  required_version = ">= 1.5"

  required_providers {
    # known_hosts only; everything else here renders values for the calling module.
    local = {
      source  = "hashicorp/local"
      version = "~> 2.5"
    }
  }
}
