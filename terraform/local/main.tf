locals {
  nodes = [
    for i in range(var.node_count) : {
      index   = i + 1
      name    = "node${i + 1}"
      address = cidrhost(var.subnet, 11 + i)
      role    = i < var.manager_count ? "manager" : "worker"
      release = lookup(var.node_releases, "node${i + 1}", var.image_release)
    }
  ]
}

# The lab LAN: a bridge with the gateway address. Destroyed last.
resource "terraform_data" "network" {
  input = {
    lab     = var.lab_name
    subnet  = var.subnet
    run_dir = var.run_dir
    harness = var.harness_command
  }

  provisioner "local-exec" {
    command = "${self.input.harness} lab network-create --lab ${self.input.lab} --subnet ${self.input.subnet} --run-dir ${self.input.run_dir}"
  }

  provisioner "local-exec" {
    when    = destroy
    command = "${self.input.harness} lab network-destroy --lab ${self.input.lab}"
  }
}

# One machine per node (systemd-nspawn, QEMU VM or User-Mode Linux), booted from the cached image of its release.
resource "terraform_data" "machine" {
  count = var.node_count

  input = {
    lab     = var.lab_name
    subnet  = var.subnet
    run_dir = var.run_dir
    harness = var.harness_command
    index   = local.nodes[count.index].index
    name    = local.nodes[count.index].name
    address = local.nodes[count.index].address
    release = local.nodes[count.index].release
    kind    = var.machine_kind
    network = terraform_data.network.id
  }

  provisioner "local-exec" {
    command = "${self.input.harness} lab machine-create --lab ${self.input.lab} --node ${self.input.name} --index ${self.input.index} --address ${self.input.address} --subnet ${self.input.subnet} --release ${self.input.release} --kind ${self.input.kind} --run-dir ${self.input.run_dir}"
  }

  provisioner "local-exec" {
    when    = destroy
    command = "${self.input.harness} lab machine-destroy --lab ${self.input.lab} --node ${self.input.name}"
  }
}
