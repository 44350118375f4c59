# The run's names, tags, expiry, node list and SSH keys, from ../modules/run-identity,
# for every cloud module alike. Linked into aws, hcloud and libvirt as run_identity.tf
# (beside run_variables.tf, which declares the inputs passed here); edit it here.

module "run_identity" {
  source = "../modules/run-identity"

  run_id        = var.run_id
  owner         = var.owner
  ttl_hours     = var.ttl_hours
  expires_at    = var.expires_at
  manager_count = var.manager_count
  worker_count  = var.worker_count
  run_dir       = var.run_dir
}

locals {
  name       = module.run_identity.name
  node_count = var.manager_count + var.worker_count
  expires_at = module.run_identity.expires_at
  # Every resource that takes tags or labels carries these (libvirt: in the description).
  tags = module.run_identity.tags
}
