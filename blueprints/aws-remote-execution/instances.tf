# One launch template per role, all on the images made in image.tf; the role
# (its NativeLink configuration) is given by user data.

locals {
  store_args = {
    cas_store = jsonencode(local.s3_store.cas)
    ac_store  = jsonencode(local.s3_store.ac)
  }

  worker_config = {
    for arch, cpu in { x86 = "x86_64", arm = "aarch64" } : arch => templatefile("${path.module}/config/worker.json5.tftpl", merge(local.store_args, {
      arch           = arch
      cpu_arch       = cpu
      scheduler_host = local.scheduler_host
      worker_port    = local.ports.worker_api
    }))
  }

  roles = {
    cas = {
      image = "arm", security_group = "cas", cache = "memory", instance_type = var.cas_instance_type
      config = templatefile("${path.module}/config/cas.json5.tftpl", merge(local.store_args, {
        port = local.ports.cas
      }))
    }
    scheduler = {
      image = "arm", security_group = "scheduler", cache = "", instance_type = var.scheduler_instance_type
      config = templatefile("${path.module}/config/scheduler.json5.tftpl", merge(local.store_args, {
        client_port    = local.ports.scheduler
        worker_port    = local.ports.worker_api
        scheduler_host = local.scheduler_host
      }))
    }
    # Worker instance types come from the groups' overrides.
    worker-x86 = { image = "x86", security_group = "workers", cache = "nvme", instance_type = null, config = local.worker_config.x86 }
    worker-arm = { image = "arm", security_group = "workers", cache = "nvme", instance_type = null, config = local.worker_config.arm }
  }
}

resource "aws_launch_template" "role" {
  for_each               = local.roles
  name                   = "${local.name}-${each.key}"
  description            = "NativeLink ${each.key} of Slipway cluster ${local.name}"
  image_id               = aws_ami_from_instance.nativelink[each.value.image].id
  instance_type          = each.value.instance_type
  update_default_version = true
  vpc_security_group_ids = [local.sg[each.value.security_group]]

  iam_instance_profile {
    name = aws_iam_instance_profile.instance["nativelink"].name
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_type           = "gp3"
      volume_size           = 20
      encrypted             = true
      delete_on_termination = true
    }
  }

  user_data = base64encode(templatefile("${path.module}/templates/role.sh.tftpl", {
    role    = each.key
    cluster = var.cluster_name
    cache   = each.value.cache
    config  = each.value.config
  }))

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${local.name}-${each.key}" })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { Name = "${local.name}-${each.key}" })
  }

  tags = merge(var.tags, { Name = "${local.name}-${each.key}" })
}

# --- CAS servers behind the load balancer ----------------------------------

resource "aws_autoscaling_group" "cas" {
  name                      = "${local.name}-cas"
  vpc_zone_identifier       = local.private_subnet_ids
  min_size                  = var.cas_instances
  max_size                  = var.cas_instances
  desired_capacity          = var.cas_instances
  target_group_arns         = [aws_lb_target_group.this["cas"].arn]
  health_check_type         = "ELB"
  health_check_grace_period = 180

  launch_template {
    id      = aws_launch_template.role["cas"].id
    version = aws_launch_template.role["cas"].latest_version
  }

  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 50
    }
  }

  tag {
    key                 = "Name"
    value               = "${local.name}-cas"
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

# --- Workers: x86 and ARM spot groups on NVMe instance types ---------------

resource "aws_autoscaling_group" "workers" {
  for_each                  = local.workers
  name                      = "${local.name}-workers-${each.key}"
  vpc_zone_identifier       = local.private_subnet_ids
  min_size                  = 0
  max_size                  = var.max_nodes
  desired_capacity          = each.value.count
  capacity_rebalance        = true
  health_check_type         = "EC2"
  wait_for_capacity_timeout = "15m"

  mixed_instances_policy {
    instances_distribution {
      on_demand_base_capacity                  = 0
      on_demand_percentage_above_base_capacity = 0
      spot_allocation_strategy                 = "price-capacity-optimized"
    }

    launch_template {
      launch_template_specification {
        launch_template_id = aws_launch_template.role["worker-${each.key}"].id
        version            = aws_launch_template.role["worker-${each.key}"].latest_version
      }

      dynamic "override" {
        for_each = compact([for t in split(",", each.value.types) : trimspace(t)])
        content {
          instance_type = override.value
        }
      }
    }
  }

  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 50
    }
  }

  tag {
    key                 = "Name"
    value               = "${local.name}-worker-${each.key}"
    propagate_at_launch = true
  }

  dynamic "tag" {
    for_each = var.tags
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    precondition {
      condition     = var.min_nodes <= var.node_count && var.node_count <= var.max_nodes
      error_message = "node_count must be between min_nodes and max_nodes."
    }
  }
}
