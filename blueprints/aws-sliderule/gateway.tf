# The gateway and the manager each keep a network interface of their own, so
# their addresses (the Elastic IP, the manager's private address in the
# gateway's proxy configuration, the gateway's in Prometheus's) survive the
# replacement of an instance.

resource "aws_network_interface" "gateway" {
  subnet_id       = var.public_subnet_id
  security_groups = [aws_security_group.gateway.id]
  description     = "Slipway gateway of ${local.name}"
  tags            = merge(var.tags, { Name = "${local.name}-gateway" })
}

resource "aws_network_interface" "manager" {
  subnet_id       = var.private_subnet_id
  security_groups = [aws_security_group.manager.id]
  description     = "Manager of ${local.name}"
  tags            = merge(var.tags, { Name = "${local.name}-manager" })
}

resource "aws_eip" "gateway" {
  domain            = "vpc"
  network_interface = aws_network_interface.gateway.id
  tags              = merge(var.tags, { Name = "${local.name}-gateway" })

  # An address is associated with an interface attached to an instance.
  depends_on = [aws_instance.gateway]
}

resource "aws_route53_record" "gateway" {
  zone_id = data.aws_route53_zone.this.zone_id
  name    = local.fqdn
  type    = "A"
  ttl     = 60
  records = [aws_eip.gateway.public_ip]
}

resource "aws_instance" "gateway" {
  ami                  = local.ami_id
  instance_type        = var.gateway_instance_type
  iam_instance_profile = aws_iam_instance_profile.instance["gateway"].name

  network_interface {
    network_interface_id = aws_network_interface.gateway.id
    device_index         = 0
  }

  # Caddy and the gateway run on the host network and need no instance
  # credentials from a container: one hop.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = 20
    encrypted   = true
    tags        = merge(var.tags, { Name = "${local.name}-gateway" })
  }

  user_data = templatefile("${path.module}/templates/gateway.sh.tftpl", {
    install_slipway = local.install_slipway
    cluster         = var.cluster_name
    region          = var.region
    fqdn            = local.fqdn
    acme_email      = var.acme_email
    caddy_image     = local.images.caddy
    node_group      = local.node_group
    node_port       = var.node_port
    gateway_port    = local.gateway_port
    metrics_port    = local.metrics_port
    grafana         = "${aws_network_interface.manager.private_ip}:${local.grafana_port}"
    # Flags of `slipway gateway run`; empty URLs are left to their defaults.
    gateway_flags = join(" ", compact([
      "--cluster ${var.cluster_name}",
      var.is_public ? "--public" : "",
      var.jwt_issuer != "" ? "--issuer ${var.jwt_issuer}" : "",
      var.jwks_url != "" ? "--jwks-url ${var.jwks_url}" : "",
      var.revocations_url != "" ? "--revocations-url ${var.revocations_url}" : "",
      "--node-dir /var/lib/slipway/nodes",
      "--listen 127.0.0.1:${local.gateway_port}",
      "--metrics-listen 0.0.0.0:${local.metrics_port}",
      "--state-file /var/lib/slipway/gateway.json",
      "--trusted-proxy 127.0.0.1/32",
    ]))
  })
  # What the gateway enforces (cluster, issuer, visibility) is in its user
  # data: a change replaces the instance, which keeps its address.
  user_data_replace_on_change = true

  tags = merge(var.tags, { Name = "${local.name}-gateway" })

  lifecycle {
    # A new Amazon Linux release must not replace the gateway by itself.
    ignore_changes = [ami]
  }
}
