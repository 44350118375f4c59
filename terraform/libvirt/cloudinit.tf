# cloud-init user data of every node: the pinned Docker Engine, tcpdump, root login with
# the harness's key, the node's own pre-generated SSH host key, the nftables rule set,
# and static addresses on both NICs (matched by MAC address).

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

  firewall_unit = <<-EOT
    [Unit]
    Description=swarm-harness node firewall (nftables table inet swarm_harness)
    Wants=network-pre.target
    Before=network-pre.target docker.service

    [Service]
    Type=oneshot
    RemainAfterExit=yes
    ExecStart=/usr/sbin/nft -f /etc/swarm-harness/nftables.nft
    ExecStop=/usr/sbin/nft delete table inet swarm_harness

    [Install]
    WantedBy=multi-user.target
  EOT

  meta_data = [
    for n in local.nodes : yamlencode({
      instance-id    = "${local.name}-${n.name}"
      local-hostname = n.name
    })
  ]

  network_config = [
    for n in local.nodes : yamlencode({
      version = 2
      ethernets = {
        mgmt0 = {
          match       = { macaddress = n.mgmt_mac }
          set-name    = "mgmt0"
          addresses   = ["${n.mgmt_ip}/${split("/", var.management_cidr)[1]}"]
          routes      = [{ to = "0.0.0.0/0", via = cidrhost(var.management_cidr, 1) }]
          nameservers = { addresses = [cidrhost(var.management_cidr, 1)] }
        }
        swarm0 = {
          match     = { macaddress = n.swarm_mac }
          set-name  = "swarm0"
          addresses = ["${n.private_ip}/${split("/", var.private_cidr)[1]}"]
        }
      }
    })
  ]

  user_data = [
    for i, n in local.nodes : "#cloud-config\n${yamlencode({
      hostname            = n.name
      preserve_hostname   = false
      disable_root        = false
      ssh_pwauth          = false
      ssh_authorized_keys = [trimspace(tls_private_key.client.public_key_openssh)]
      ssh_deletekeys      = true
      ssh_genkeytypes     = []
      ssh_keys = {
        ed25519_private = tls_private_key.host[i].private_key_openssh
        ed25519_public  = trimspace(tls_private_key.host[i].public_key_openssh)
      }
      package_update = true
      packages       = ["ca-certificates", "curl", "nftables", "tcpdump"]
      write_files = [
        {
          path        = "/etc/swarm-harness/nftables.nft"
          permissions = "0644"
          owner       = "root:root"
          content     = local.nftables_rules
        },
        {
          path        = "/etc/systemd/system/swarm-harness-firewall.service"
          permissions = "0644"
          owner       = "root:root"
          content     = local.firewall_unit
        },
        {
          path        = local.install_docker_path
          permissions = "0755"
          owner       = "root:root"
          content     = local.install_docker_script
        },
      ]
      runcmd = [
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", "swarm-harness-firewall.service"],
        [local.install_docker_path, var.docker_version],
      ]
    })}"
  ]
}
