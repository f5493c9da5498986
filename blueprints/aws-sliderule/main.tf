# aws-sliderule: a processing cluster on EC2 in the shape of SlideRule's.
#
#   internet ──443──> gateway (public subnet, Elastic IP)
#                       Caddy: TLS (Let's Encrypt), /monitor/ -> manager
#                       slipway gateway: cluster tokens, rate limits,
#                       round robin over the healthy nodes
#                       ──node_port──> nodes (private subnet, spot ASG)
#                     manager (private subnet): Prometheus + Grafana
#
# Only the gateway is reachable from outside; the nodes admit the gateway
# alone (and the manager's scrapes of their node exporter), so nobody can
# send them forged X-Slipway-* identity headers.

data "aws_partition" "current" {}

data "aws_subnet" "public" {
  id = var.public_subnet_id
}

data "aws_subnet" "private" {
  id = var.private_subnet_id
}

data "aws_route53_zone" "this" {
  name         = var.hosted_zone_name
  private_zone = false
}

data "aws_ssm_parameter" "al2023" {
  count = var.ami_id == "" ? 1 : 0
  name  = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${var.architecture}"
}

locals {
  name       = var.cluster_name
  node_group = "${var.cluster_name}-nodes"
  fqdn       = "${var.cluster_name}.${trimsuffix(data.aws_route53_zone.this.name, ".")}"
  ami_id     = var.ami_id != "" ? var.ami_id : data.aws_ssm_parameter.al2023[0].insecure_value
  vpc_id     = data.aws_subnet.public.vpc_id

  node_instance_types = compact([for t in split(",", var.node_instance_types) : trimspace(t)])

  # The port the gateway reaches the issuer on (JWKS and revocation list).
  issuer_port = try(
    tonumber(regex("^https?://[^/:]+:([0-9]+)", var.jwt_issuer)[0]),
    startswith(var.jwt_issuer, "http://") ? 80 : 443,
  )

  gateway_port = 8080 # slipway gateway, behind Caddy on loopback
  metrics_port = 9091 # slipway gateway's /metrics, for the manager
  grafana_port = 3000

  # Third-party images, pinned.
  images = {
    caddy         = "public.ecr.aws/docker/library/caddy:2.8"
    prometheus    = "quay.io/prometheus/prometheus:v2.53.2"
    grafana       = "docker.io/grafana/grafana-oss:11.2.0"
    node_exporter = "quay.io/prometheus/node-exporter:v1.8.2"
  }

  install_slipway = templatefile("${path.module}/templates/install-slipway.sh.tftpl", {
    url    = var.gateway_release_url
    sha256 = var.gateway_release_sha256
  })
}

# --- Security groups: only the gateway is public ---------------------------

resource "aws_security_group" "gateway" {
  name        = "${local.name}-gateway"
  description = "Slipway gateway of ${local.name}: HTTPS from clients"
  vpc_id      = local.vpc_id
  tags        = merge(var.tags, { Name = "${local.name}-gateway" })

  lifecycle {
    precondition {
      condition     = data.aws_subnet.public.availability_zone == var.availability_zone && data.aws_subnet.private.availability_zone == var.availability_zone
      error_message = "public_subnet_id and private_subnet_id must both be in availability_zone."
    }
    precondition {
      condition     = data.aws_subnet.public.vpc_id == data.aws_subnet.private.vpc_id
      error_message = "public_subnet_id and private_subnet_id must be in the same VPC."
    }
  }
}

resource "aws_security_group" "manager" {
  name        = "${local.name}-manager"
  description = "Manager of ${local.name}: Grafana from the gateway"
  vpc_id      = local.vpc_id
  tags        = merge(var.tags, { Name = "${local.name}-manager" })
}

resource "aws_security_group" "nodes" {
  name        = "${local.name}-nodes"
  description = "Nodes of ${local.name}: reachable from the gateway only"
  vpc_id      = local.vpc_id
  tags        = merge(var.tags, { Name = "${local.name}-nodes" })
}

# Gateway: HTTPS, and HTTP for the ACME challenge (Caddy redirects the rest).
resource "aws_vpc_security_group_ingress_rule" "gateway_public" {
  for_each          = toset(["443", "80"])
  security_group_id = aws_security_group.gateway.id
  description       = "Clients to the gateway"
  cidr_ipv4         = var.ingress_cidr
  ip_protocol       = "tcp"
  from_port         = tonumber(each.key)
  to_port           = tonumber(each.key)
}

resource "aws_vpc_security_group_ingress_rule" "gateway_metrics" {
  security_group_id            = aws_security_group.gateway.id
  description                  = "Prometheus on the manager scrapes the gateway"
  referenced_security_group_id = aws_security_group.manager.id
  ip_protocol                  = "tcp"
  from_port                    = local.metrics_port
  to_port                      = local.metrics_port
}

resource "aws_vpc_security_group_ingress_rule" "manager_grafana" {
  security_group_id            = aws_security_group.manager.id
  description                  = "Grafana behind the gateway's /monitor/"
  referenced_security_group_id = aws_security_group.gateway.id
  ip_protocol                  = "tcp"
  from_port                    = local.grafana_port
  to_port                      = local.grafana_port
}

resource "aws_vpc_security_group_ingress_rule" "nodes_from_gateway" {
  security_group_id            = aws_security_group.nodes.id
  description                  = "Requests from the gateway"
  referenced_security_group_id = aws_security_group.gateway.id
  ip_protocol                  = "tcp"
  from_port                    = var.node_port
  to_port                      = var.node_port
}

resource "aws_vpc_security_group_ingress_rule" "nodes_exporter" {
  security_group_id            = aws_security_group.nodes.id
  description                  = "Prometheus on the manager scrapes the node exporter"
  referenced_security_group_id = aws_security_group.manager.id
  ip_protocol                  = "tcp"
  from_port                    = 9100
  to_port                      = 9100
}

# Egress: HTTPS for packages, images, the release, AWS APIs and ACME; the
# gateway also reaches the issuer's port and the cluster's own services.
resource "aws_vpc_security_group_egress_rule" "https" {
  for_each          = { gateway = aws_security_group.gateway.id, manager = aws_security_group.manager.id, nodes = aws_security_group.nodes.id }
  security_group_id = each.value
  description       = "HTTPS out"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "gateway_issuer" {
  count             = local.issuer_port == 443 ? 0 : 1
  security_group_id = aws_security_group.gateway.id
  description       = "The token issuer (JWKS, revocation list)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = local.issuer_port
  to_port           = local.issuer_port
}

resource "aws_vpc_security_group_egress_rule" "gateway_to_nodes" {
  security_group_id            = aws_security_group.gateway.id
  description                  = "Requests to the nodes"
  referenced_security_group_id = aws_security_group.nodes.id
  ip_protocol                  = "tcp"
  from_port                    = var.node_port
  to_port                      = var.node_port
}

resource "aws_vpc_security_group_egress_rule" "gateway_to_grafana" {
  security_group_id            = aws_security_group.gateway.id
  description                  = "Grafana on the manager"
  referenced_security_group_id = aws_security_group.manager.id
  ip_protocol                  = "tcp"
  from_port                    = local.grafana_port
  to_port                      = local.grafana_port
}

resource "aws_vpc_security_group_egress_rule" "manager_scrapes" {
  for_each = {
    gateway = { sg = aws_security_group.gateway.id, port = local.metrics_port }
    nodes   = { sg = aws_security_group.nodes.id, port = 9100 }
  }
  security_group_id            = aws_security_group.manager.id
  description                  = "Prometheus scrapes (${each.key})"
  referenced_security_group_id = each.value.sg
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
}

# --- IAM: Session Manager instead of SSH; each role only what it reads -----

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "instance" {
  for_each           = toset(["gateway", "manager", "nodes"])
  name               = "${local.name}-${each.key}"
  description        = "${each.key} instances of Slipway cluster ${local.name} (${var.organization})"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
  tags               = merge(var.tags, { Name = "${local.name}-${each.key}" })
}

resource "aws_iam_role_policy_attachment" "ssm_core" {
  for_each   = aws_iam_role.instance
  role       = each.value.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "instance" {
  for_each = aws_iam_role.instance
  name     = each.value.name
  role     = each.value.name
  tags     = merge(var.tags, { Name = each.value.name })
}

# The gateway lists the nodes' private addresses; Prometheus does the same.
# DescribeInstances takes no resource-level restriction.
data "aws_iam_policy_document" "discover_nodes" {
  statement {
    actions   = ["ec2:DescribeInstances"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "gateway" {
  name   = "discover-nodes"
  role   = aws_iam_role.instance["gateway"].id
  policy = data.aws_iam_policy_document.discover_nodes.json
}

data "aws_iam_policy_document" "manager" {
  source_policy_documents = [data.aws_iam_policy_document.discover_nodes.json]

  statement {
    actions   = ["ssm:GetParameter", "ssm:PutParameter"]
    resources = [aws_ssm_parameter.grafana_admin.arn]
  }
}

resource "aws_iam_role_policy" "manager" {
  name   = "monitoring"
  role   = aws_iam_role.instance["manager"].id
  policy = data.aws_iam_policy_document.manager.json
}

# Grafana's admin password. Terraform creates the parameter with a
# placeholder and never reads the value back; the manager generates the
# password on its first boot and stores it here, so the secret is in no
# Terraform state or plan. Read it with
# `aws ssm get-parameter --with-decryption --name <monitoring_password_parameter>`.
resource "aws_ssm_parameter" "grafana_admin" {
  name        = "/slipway/${var.organization}/${local.name}/grafana-admin-password"
  description = "Grafana admin password of Slipway cluster ${local.name}, set by its manager"
  type        = "SecureString"
  value       = "unset"
  tags        = merge(var.tags, { Name = "${local.name}-grafana-admin" })

  lifecycle {
    ignore_changes = [value]
  }
}
