terraform {
  # ../modules/run-identity uses plantimestamp(), new in 1.5.
  required_version = ">= 1.5"

  required_providers {
    libvirt = {
      # 0.9 is a rewrite with a different schema: stay on 0.8.x.
      source  = "dmacvicar/libvirt"
      version = "~> 0.8.3"
    }
  }
}
