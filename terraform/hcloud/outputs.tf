# The inventory output stands in cloudinit.tf, beside the node-common call that shapes it.

output "expires_at" {
  description = "When these hosts may be reaped (basic ISO 8601, UTC); also the expires_at label of every resource."
  value       = local.expires_at
}
