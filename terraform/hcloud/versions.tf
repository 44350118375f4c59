terraform {
  # ../modules/run-identity uses plantimestamp(), new in 1.5.
  required_version = ">= 1.5"

  required_providers {
    hcloud = {
      source  = "hetznercloud/hcloud"
      version = "~> 1.49"
    }
  }
}
