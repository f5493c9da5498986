# aws-remote-execution: a cache and remote-execution cluster in the shape of
# NativeLink's AWS reference deployment.
#
#   clients ──grpcs 443──>   NLB ──> CAS servers (ASG)  ──> S3: CAS, AC
#           ──grpcs 50052──> NLB ──> scheduler (ASG of 1)
#   workers (x86 and ARM spot ASGs, NVMe) ──grpc 50061──> scheduler,
#       found at scheduler.<internal zone>, which a Lambda function keeps
#       pointing at the scheduler's instance (EventBridge: instance state
#       change -> Lambda -> UPSERT)
#   images: one builder instance per architecture installs NativeLink; an
#       AMI is made from each, and the builders are stopped (kept running
#       with keep_builder).

data "aws_partition" "current" {}

data "aws_route53_zone" "public" {
  name         = var.base_domain
  private_zone = false
}

data "aws_subnet" "private" {
  id = local.private_subnet_ids[0]
}

locals {
  name               = var.cluster_name
  fqdn               = "${var.cluster_name}.${trimsuffix(data.aws_route53_zone.public.name, ".")}"
  public_subnet_ids  = compact([for s in split(",", var.public_subnet_ids) : trimspace(s)])
  private_subnet_ids = compact([for s in split(",", var.private_subnet_ids) : trimspace(s)])
  vpc_id             = data.aws_subnet.private.vpc_id

  internal_zone  = "internal.${local.fqdn}"
  scheduler_host = "scheduler.${local.internal_zone}"
  client_cidr    = var.is_public ? "0.0.0.0/0" : var.client_cidr

  ports = {
    cas        = 50051 # CAS, AC, ByteStream, Capabilities (behind 443)
    scheduler  = 50052 # Execution, AC, Capabilities (behind 50052)
    worker_api = 50061 # workers to the scheduler, inside the VPC only
  }

  # Workers: arm_worker_percent of node_count on ARM, the rest on x86.
  arm_workers = floor(var.node_count * var.arm_worker_percent / 100)
  workers = {
    x86 = { count = var.node_count - local.arm_workers, types = var.x86_worker_instance_types }
    arm = { count = local.arm_workers, types = var.arm_worker_instance_types }
  }

  s3_store = {
    for k in ["cas", "ac"] : k => {
      provider   = "aws"
      region     = var.region
      bucket     = aws_s3_bucket.store[k].id
      key_prefix = "${k}/"
      retry      = { max_retries = 6, delay = 0.3, jitter = 0.5 }
    }
  }
}

# --- Security groups --------------------------------------------------------

resource "aws_security_group" "this" {
  for_each    = toset(["lb", "cas", "scheduler", "workers", "builder"])
  name        = "${local.name}-${each.key}"
  description = "${each.key} of remote-execution cluster ${local.name}"
  vpc_id      = local.vpc_id
  tags        = merge(var.tags, { Name = "${local.name}-${each.key}" })

  lifecycle {
    precondition {
      condition     = var.is_public || var.client_cidr != ""
      error_message = "A private cluster needs client_cidr: who may reach its cache and scheduler."
    }
  }
}

locals {
  sg = { for k, v in aws_security_group.this : k => v.id }

  # from -> to on port: every allowed flow between the cluster's parts.
  internal_flows = {
    lb_cas            = { from = "lb", to = "cas", port = local.ports.cas }
    lb_scheduler      = { from = "lb", to = "scheduler", port = local.ports.scheduler }
    workers_scheduler = { from = "workers", to = "scheduler", port = local.ports.worker_api }
  }
}

resource "aws_vpc_security_group_ingress_rule" "clients" {
  for_each          = { cas = 443, scheduler = local.ports.scheduler }
  security_group_id = local.sg.lb
  description       = "Clients to the ${each.key} endpoint"
  cidr_ipv4         = local.client_cidr
  ip_protocol       = "tcp"
  from_port         = each.value
  to_port           = each.value
}

resource "aws_vpc_security_group_ingress_rule" "internal" {
  for_each                     = local.internal_flows
  security_group_id            = local.sg[each.value.to]
  description                  = "${each.value.from} to ${each.value.to}"
  referenced_security_group_id = local.sg[each.value.from]
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
}

resource "aws_vpc_security_group_egress_rule" "internal" {
  for_each                     = local.internal_flows
  security_group_id            = local.sg[each.value.from]
  description                  = "${each.value.from} to ${each.value.to}"
  referenced_security_group_id = local.sg[each.value.to]
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
}

# S3, AWS APIs, packages and the NativeLink release: HTTPS only.
resource "aws_vpc_security_group_egress_rule" "https" {
  for_each          = toset(["cas", "scheduler", "workers", "builder"])
  security_group_id = local.sg[each.key]
  description       = "HTTPS out"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

# --- IAM --------------------------------------------------------------------

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
  for_each           = toset(["nativelink", "builder"])
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

# CAS servers, the scheduler and the workers read and write both stores;
# none may delete (or change the buckets).
data "aws_iam_policy_document" "stores" {
  statement {
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [for b in aws_s3_bucket.store : b.arn]
  }
  statement {
    actions   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = [for b in aws_s3_bucket.store : "${b.arn}/*"]
  }
}

resource "aws_iam_role_policy" "stores" {
  name   = "stores"
  role   = aws_iam_role.instance["nativelink"].id
  policy = data.aws_iam_policy_document.stores.json
}
