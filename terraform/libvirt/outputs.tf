# The inventory output stands in cloudinit.tf, beside the node-common call that shapes it.

output "expires_at" {
  description = "When these VMs may be reaped (basic ISO 8601, UTC); also in every domain's description."
  value       = local.expires_at
}

output "nftables_rules" {
  description = "The in-guest nftables table every VM loads (libvirt has no firewall resource)."
  value       = local.nftables_rules
}
