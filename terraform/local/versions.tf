terraform {
  # terraform_data (built in since 1.4) is the only resource: the module works offline.
  required_version = ">= 1.4"
}
