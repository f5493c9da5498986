# The public endpoints: one network load balancer at <cluster>.<base_domain>,
# TLS terminated with an ACM certificate, gRPC (HTTP/2 by ALPN) passed on to
#   443   -> CAS servers (50051): --remote_cache=grpcs://<name>
#   50052 -> the scheduler (50052): --remote_executor=grpcs://<name>:50052

resource "aws_lb" "this" {
  load_balancer_type               = "network"
  internal                         = false
  subnets                          = local.public_subnet_ids
  security_groups                  = [local.sg.lb]
  enable_cross_zone_load_balancing = true
  tags                             = merge(var.tags, { Name = local.name })
}

resource "aws_lb_target_group" "this" {
  for_each             = { cas = local.ports.cas, scheduler = local.ports.scheduler }
  name_prefix          = each.key == "cas" ? "cas-" : "sch-"
  port                 = each.value
  protocol             = "TCP"
  target_type          = "instance"
  vpc_id               = local.vpc_id
  deregistration_delay = 30

  # NativeLink's health service answers GET /status on the same port.
  health_check {
    protocol            = "HTTP"
    path                = "/status"
    port                = "traffic-port"
    matcher             = "200"
    interval            = 10
    healthy_threshold   = 3
    unhealthy_threshold = 3
  }

  tags = merge(var.tags, { Name = "${local.name}-${each.key}" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_acm_certificate" "this" {
  domain_name       = local.fqdn
  validation_method = "DNS"
  tags              = merge(var.tags, { Name = local.fqdn })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "validation" {
  for_each = {
    for o in aws_acm_certificate.this.domain_validation_options : o.domain_name => o
  }
  zone_id         = data.aws_route53_zone.public.zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  records         = [each.value.resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "this" {
  certificate_arn         = aws_acm_certificate.this.arn
  validation_record_fqdns = [for r in aws_route53_record.validation : r.fqdn]
}

resource "aws_lb_listener" "this" {
  for_each          = { cas = 443, scheduler = local.ports.scheduler }
  load_balancer_arn = aws_lb.this.arn
  port              = each.value
  protocol          = "TLS"
  certificate_arn   = aws_acm_certificate_validation.this.certificate_arn
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  alpn_policy       = "HTTP2Preferred"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this[each.key].arn
  }

  tags = merge(var.tags, { Name = "${local.name}-${each.key}" })
}

resource "aws_route53_record" "endpoint" {
  zone_id = data.aws_route53_zone.public.zone_id
  name    = local.fqdn
  type    = "A"

  alias {
    name                   = aws_lb.this.dns_name
    zone_id                = aws_lb.this.zone_id
    evaluate_target_health = false
  }
}
