terraform {
  # No provider: this module only renders values for the cloud modules that call it.
  required_version = ">= 1.5"
}
