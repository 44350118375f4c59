output "name" {
  description = "Prefix of every resource name: swh-RUN_ID."
  value       = "swh-${var.run_id}"
}

output "expires_at" {
  description = "When these hosts may be reaped (basic ISO 8601, UTC)."
  value       = local.expires_at
}

output "tags" {
  description = "Tags (labels) of every resource: run_id, owner, expires_at, managed_by."
  value       = local.tags
}

output "nodes" {
  description = "The nodes in order: name and role (managers first)."
  value       = local.nodes
}

output "ssh_keys" {
  description = "The client key (authorized for root) and one host key per node, in node order."
  value       = { client = tls_private_key.client, hosts = tls_private_key.host }
  sensitive   = true
}

output "client_public_key" {
  description = "The client key's public half (OpenSSH format), for a cloud's own key registry."
  value       = tls_private_key.client.public_key_openssh
}

output "ssh_files" {
  description = "Where the client key is, and where node-common writes known_hosts."
  value = {
    private_key_path = local_sensitive_file.client_key.filename
    known_hosts_path = "${var.run_dir}/ssh/known_hosts"
  }
}
