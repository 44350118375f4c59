# Smallest useful cluster: one manager, two workers, one pinned Engine version.
#
#   terraform init && terraform apply -var run_id=demo-1 -var owner=$USER -var run_dir=$PWD/run ...
#   terraform output -json > run/inventory.json
#   pytest suites --harness-inventory run/inventory.json
#   terraform destroy ...

module "swarm" {
  source = "../.."

  run_id         = var.run_id
  owner          = var.owner
  run_dir        = var.run_dir
  ttl_hours      = 4
  manager_count  = 1
  worker_count   = 2
  docker_version = var.docker_version

  ssh_allowed_cidr = var.ssh_allowed_cidr
  region           = var.region
  instance_type    = "t3.small"
}
