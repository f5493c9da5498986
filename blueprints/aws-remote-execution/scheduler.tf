# One scheduler, in an auto-scaling group of exactly one (replaced when its
# instance fails). Workers find it at scheduler.internal.<cluster>.<domain>
# in a private zone of the VPC; the record belongs to the Lambda function
# below, which sets it to the scheduler instance's private address whenever
# an instance changes state (and once after every apply that touches the
# group). The zone is destroyed with the record in it (force_destroy).

resource "aws_route53_zone" "internal" {
  name          = local.internal_zone
  comment       = "Internal names of remote-execution cluster ${local.name}"
  force_destroy = true
  tags          = merge(var.tags, { Name = local.internal_zone })

  vpc {
    vpc_id = local.vpc_id
  }
}

resource "aws_autoscaling_group" "scheduler" {
  name                      = "${local.name}-scheduler"
  vpc_zone_identifier       = local.private_subnet_ids
  min_size                  = 1
  max_size                  = 1
  desired_capacity          = 1
  target_group_arns         = [aws_lb_target_group.this["scheduler"].arn]
  health_check_type         = "ELB"
  health_check_grace_period = 180

  launch_template {
    id      = aws_launch_template.role["scheduler"].id
    version = aws_launch_template.role["scheduler"].latest_version
  }

  # One scheduler at a time: a new version replaces it (workers reconnect).
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 0
    }
  }

  tag {
    key                 = "Name"
    value               = "${local.name}-scheduler"
    propagate_at_launch = true
  }

  # default_tags does not reach an auto-scaling group (nor what it launches).
  dynamic "tag" {
    for_each = var.tags
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }
}

# --- The function that keeps the scheduler's record ------------------------

data "archive_file" "scheduler_dns" {
  type        = "zip"
  source_file = "${path.module}/lambda/scheduler_dns.py"
  output_path = "${path.module}/.build/scheduler_dns.zip"
}

locals {
  scheduler_dns_function = "${local.name}-scheduler-dns"
}

resource "aws_cloudwatch_log_group" "scheduler_dns" {
  name              = "/aws/lambda/${local.scheduler_dns_function}"
  retention_in_days = 14
  tags              = merge(var.tags, { Name = local.scheduler_dns_function })
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "scheduler_dns" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.scheduler_dns.arn}:*"]
  }
  statement {
    actions   = ["autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances"]
    resources = ["*"]
  }
  statement {
    actions   = ["route53:ListResourceRecordSets"]
    resources = [aws_route53_zone.internal.arn]
  }
  # Only the scheduler's A record, nothing else in the zone.
  statement {
    actions   = ["route53:ChangeResourceRecordSets"]
    resources = [aws_route53_zone.internal.arn]
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
      values   = [local.scheduler_host]
    }
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "route53:ChangeResourceRecordSetsRecordTypes"
      values   = ["A"]
    }
  }
}

resource "aws_iam_role" "scheduler_dns" {
  name               = local.scheduler_dns_function
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
  tags               = merge(var.tags, { Name = local.scheduler_dns_function })
}

resource "aws_iam_role_policy" "scheduler_dns" {
  name   = "scheduler-dns"
  role   = aws_iam_role.scheduler_dns.id
  policy = data.aws_iam_policy_document.scheduler_dns.json
}

resource "aws_lambda_function" "scheduler_dns" {
  function_name    = local.scheduler_dns_function
  description      = "Points ${local.scheduler_host} at the scheduler of ${local.name}"
  role             = aws_iam_role.scheduler_dns.arn
  runtime          = "python3.12"
  architectures    = ["arm64"]
  handler          = "scheduler_dns.handler"
  filename         = data.archive_file.scheduler_dns.output_path
  source_code_hash = data.archive_file.scheduler_dns.output_base64sha256
  timeout          = 30
  memory_size      = 128

  environment {
    variables = {
      AUTO_SCALING_GROUP = aws_autoscaling_group.scheduler.name
      HOSTED_ZONE_ID     = aws_route53_zone.internal.zone_id
      RECORD_NAME        = local.scheduler_host
    }
  }

  tags = merge(var.tags, { Name = local.scheduler_dns_function })

  depends_on = [aws_iam_role_policy.scheduler_dns, aws_cloudwatch_log_group.scheduler_dns]
}

# Every EC2 instance state change in the region reaches the function, which
# acts only when the scheduler group's addresses differ from the record.
resource "aws_cloudwatch_event_rule" "instance_state" {
  name        = "${local.name}-instance-state"
  description = "EC2 instance state changes, for the scheduler record of ${local.name}"
  event_pattern = jsonencode({
    source        = ["aws.ec2"]
    "detail-type" = ["EC2 Instance State-change Notification"]
    detail        = { state = ["running", "stopping", "shutting-down", "terminated"] }
  })
  tags = merge(var.tags, { Name = "${local.name}-instance-state" })
}

resource "aws_cloudwatch_event_target" "scheduler_dns" {
  rule = aws_cloudwatch_event_rule.instance_state.name
  arn  = aws_lambda_function.scheduler_dns.arn
}

resource "aws_lambda_permission" "events" {
  statement_id  = "AllowEventBridge"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.scheduler_dns.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.instance_state.arn
}

# Set the record as soon as the group exists (the rule may have fired before
# the function could be invoked), and again whenever the group changes.
resource "aws_lambda_invocation" "scheduler_dns" {
  function_name = aws_lambda_function.scheduler_dns.function_name
  input = jsonencode({
    source = "terraform"
    group  = aws_autoscaling_group.scheduler.name
    launch = aws_launch_template.role["scheduler"].latest_version
  })

  depends_on = [aws_cloudwatch_event_target.scheduler_dns, aws_lambda_permission.events]
}
