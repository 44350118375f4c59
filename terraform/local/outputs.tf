output "inventory" {
  description = "The harness inventory contract (schema_version 1), shared by every module under terraform/."
  value = {
    schema_version = 1
    provider       = "local"
    ssh = {
      user             = "root"
      private_key_path = "${var.run_dir}/ssh/id_ed25519"
      known_hosts_path = "${var.run_dir}/ssh/known_hosts"
      port             = 22
    }
    nodes = [
      for n in local.nodes : {
        name              = n.name
        address           = n.address
        role              = n.role
        labels            = merge({ "harness.release" = n.release }, lookup(var.node_labels, n.name, {}))
        data_path_address = n.address
        upgrade_command   = null
      }
    ]
    registry        = null
    upgrade_command = null
    provider_data = {
      lab          = var.lab_name
      subnet       = var.subnet
      machine_kind = var.machine_kind
      # Each node's port of the lab bridge on this machine (harness/lab/naming.py veth_name):
      # the wire outside the node, where the encryption check captures as well.
      wire_interfaces = { for n in local.nodes : n.name => "shv-${var.lab_name}-${n.index}" }
    }
  }
}
