# cloud-init user data of every node: the pinned Docker Engine, tcpdump, root login with
# the harness's key, and the node's own pre-generated SSH host key; a cloud module adds
# its own packages, files and commands (libvirt: the nftables rule set) before the install.

locals {
  # Installs exactly one Engine version from download.docker.com and holds it; the same
  # script is the inventory's upgrade_command. (No "$${" in it: Terraform would interpolate.)
  install_docker_script = <<-EOT
    #!/bin/sh
    # Usage: swarm-harness-install-docker VERSION   (for example 27.5.1)
    set -eu
    version="$1"
    . /etc/os-release
    export DEBIAN_FRONTEND=noninteractive
    install -m 0755 -d /etc/apt/keyrings
    if [ ! -s /etc/apt/keyrings/docker.asc ]; then
      curl -fsSL --retry 5 --retry-connrefused https://download.docker.com/linux/debian/gpg -o /etc/apt/keyrings/docker.asc
    fi
    echo "deb [arch=$(dpkg --print-architecture) signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/debian $VERSION_CODENAME stable" >/etc/apt/sources.list.d/docker.list
    apt-get update -q
    pkg="5:$version-1~debian.$VERSION_ID~$VERSION_CODENAME"
    apt-mark unhold docker-ce docker-ce-cli >/dev/null 2>&1 || true
    apt-get install -y -q --allow-downgrades --allow-change-held-packages "docker-ce=$pkg" "docker-ce-cli=$pkg" containerd.io
    apt-mark hold docker-ce docker-ce-cli >/dev/null
    systemctl enable --now docker
    docker version --format '{{.Server.Version}}'
  EOT

  install_docker_path = "/usr/local/sbin/swarm-harness-install-docker"

  user_data = [
    for i, n in var.nodes : "#cloud-config\n${yamlencode({
      hostname            = n.name
      preserve_hostname   = false
      disable_root        = false
      ssh_pwauth          = false
      ssh_authorized_keys = [trimspace(var.ssh_keys.client.public_key_openssh)]
      ssh_deletekeys      = true
      ssh_genkeytypes     = []
      ssh_keys = {
        ed25519_private = var.ssh_keys.hosts[i].private_key_openssh
        ed25519_public  = trimspace(var.ssh_keys.hosts[i].public_key_openssh)
      }
      package_update = true
      packages       = sort(concat(["ca-certificates", "curl", "tcpdump"], var.extra_packages))
      write_files = concat(var.extra_write_files, [{
        path        = local.install_docker_path
        permissions = "0755"
        owner       = "root:root"
        content     = local.install_docker_script
      }])
      runcmd = concat(var.extra_runcmd, [[local.install_docker_path, var.engine.version]])
    })}"
  ]
}
