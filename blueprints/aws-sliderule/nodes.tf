# The processing nodes: spot instances in one auto-scaling group, sized by
# Slipway's node_count within the blueprint's bounds. The gateway finds them
# by their group tag every few seconds, so resizing never touches it.

resource "aws_launch_template" "nodes" {
  name                   = "${local.name}-node"
  description            = "Processing nodes of Slipway cluster ${local.name}"
  image_id               = local.ami_id
  update_default_version = true
  vpc_security_group_ids = [aws_security_group.nodes.id]

  iam_instance_profile {
    name = aws_iam_instance_profile.instance["nodes"].name
  }

  # The node's workload runs in a container and may use the instance role.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_type           = "gp3"
      volume_size           = var.node_volume_gb
      encrypted             = true
      delete_on_termination = true
    }
  }

  user_data = base64encode(templatefile("${path.module}/templates/node.sh.tftpl", {
    install_slipway     = local.install_slipway
    cluster             = var.cluster_name
    node_image          = var.node_image
    node_port           = var.node_port
    node_exporter_image = local.images.node_exporter
  }))

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${local.name}-node" })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { Name = "${local.name}-node" })
  }

  tags = merge(var.tags, { Name = "${local.name}-node" })
}

resource "aws_autoscaling_group" "nodes" {
  name                      = local.node_group
  vpc_zone_identifier       = [var.private_subnet_id]
  min_size                  = var.min_nodes
  max_size                  = var.max_nodes
  desired_capacity          = var.node_count
  capacity_rebalance        = true
  health_check_type         = "EC2"
  health_check_grace_period = 300

  mixed_instances_policy {
    instances_distribution {
      on_demand_base_capacity                  = 0
      on_demand_percentage_above_base_capacity = 0
      spot_allocation_strategy                 = var.spot_allocation_strategy
      spot_max_price                           = var.spot_max_price
    }

    launch_template {
      launch_template_specification {
        launch_template_id = aws_launch_template.nodes.id
        version            = aws_launch_template.nodes.latest_version
      }

      dynamic "override" {
        for_each = local.node_instance_types
        content {
          instance_type = override.value
        }
      }
    }
  }

  # A new launch template version (image, user data) rolls the nodes.
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 50
    }
  }

  tag {
    key                 = "Name"
    value               = "${local.name}-node"
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

  lifecycle {
    precondition {
      condition     = var.min_nodes <= var.node_count && var.node_count <= var.max_nodes
      error_message = "node_count must be between min_nodes and max_nodes."
    }
  }
}
