# The manager: Prometheus (scraping the gateway and every node's exporter,
# found through EC2 service discovery) and Grafana, which the gateway's Caddy
# serves at https://<cluster>.<zone>/monitor/ behind Grafana's own login.

resource "aws_instance" "manager" {
  ami                  = local.ami_id
  instance_type        = var.manager_instance_type
  iam_instance_profile = aws_iam_instance_profile.instance["manager"].name

  network_interface {
    network_interface_id = aws_network_interface.manager.id
    device_index         = 0
  }

  # Prometheus runs in a container and reads instance credentials for EC2
  # service discovery: two hops.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = 30
    encrypted   = true
    tags        = merge(var.tags, { Name = "${local.name}-manager" })
  }

  user_data = templatefile("${path.module}/templates/manager.sh.tftpl", {
    region             = var.region
    fqdn               = local.fqdn
    node_group         = local.node_group
    gateway_metrics    = "${aws_network_interface.gateway.private_ip}:${local.metrics_port}"
    password_parameter = aws_ssm_parameter.grafana_admin.name
    prometheus_image   = local.images.prometheus
    grafana_image      = local.images.grafana
    grafana_port       = local.grafana_port
  })
  user_data_replace_on_change = true

  tags = merge(var.tags, { Name = "${local.name}-manager" })

  lifecycle {
    ignore_changes = [ami]
  }
}
