# run_id, owner, run_dir and docker_version are declared in run_variables.tf, a link to
# ../../../shared/example_variables.tf shared by every cloud module's example.

variable "libvirt_uri" {
  type        = string
  description = "libvirt connection URI."
  default     = "qemu:///system"
}
