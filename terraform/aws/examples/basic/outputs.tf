output "inventory" {
  description = "The harness inventory; 'terraform output -json' is accepted by the harness as is."
  value       = module.swarm.inventory
}
