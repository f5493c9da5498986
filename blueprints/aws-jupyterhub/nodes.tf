# Managed node groups: core (fixed size, on demand) and user (scaled by the
# cluster autoscaler between min_nodes and node_count).

data "aws_iam_policy_document" "node_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "node" {
  name               = "${local.name}-eks-node"
  description        = "EKS nodes of Slipway cluster ${local.name}"
  assume_role_policy = data.aws_iam_policy_document.node_assume.json
  tags               = merge(var.tags, { Name = "${local.name}-eks-node" })
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset([
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonSSMManagedInstanceCore",
  ])
  role       = aws_iam_role.node.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.key}"
}

locals {
  node_groups = {
    core = {
      instance_types = [var.core_instance_type]
      capacity_type  = "ON_DEMAND"
      volume_gb      = 30
    }
    user = {
      instance_types = compact([for t in split(",", var.user_instance_types) : trimspace(t)])
      capacity_type  = var.user_capacity_type
      volume_gb      = var.user_volume_gb
    }
  }
}

# Launch templates for what a node group's default one does not give:
# encrypted volumes, IMDSv2 with one hop (pods cannot borrow the node's
# role; user code runs in them), and tags on instances and volumes.
resource "aws_launch_template" "node" {
  for_each    = local.node_groups
  name        = "${local.name}-${each.key}"
  description = "${each.key} nodes of Slipway cluster ${local.name}"

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_type           = "gp3"
      volume_size           = each.value.volume_gb
      encrypted             = true
      delete_on_termination = true
    }
  }

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

resource "aws_eks_node_group" "core" {
  cluster_name    = aws_eks_cluster.this.name
  node_group_name = "core"
  node_role_arn   = aws_iam_role.node.arn
  subnet_ids      = local.private_subnet_ids
  ami_type        = "AL2023_x86_64_STANDARD"
  instance_types  = local.node_groups.core.instance_types
  capacity_type   = local.node_groups.core.capacity_type

  launch_template {
    id      = aws_launch_template.node["core"].id
    version = aws_launch_template.node["core"].latest_version
  }

  # A fixed size: the autoscaler cannot change a group whose bounds are equal.
  scaling_config {
    min_size     = var.core_nodes
    max_size     = var.core_nodes
    desired_size = var.core_nodes
  }

  update_config {
    max_unavailable = 1
  }

  labels = { (local.purpose_label) = "core" }
  tags   = merge(var.tags, { Name = "${local.name}-core" })

  depends_on = [aws_iam_role_policy_attachment.node]
}

resource "aws_eks_node_group" "user" {
  cluster_name    = aws_eks_cluster.this.name
  node_group_name = "user"
  node_role_arn   = aws_iam_role.node.arn
  subnet_ids      = local.private_subnet_ids
  ami_type        = "AL2023_x86_64_STANDARD"
  instance_types  = local.node_groups.user.instance_types
  capacity_type   = local.node_groups.user.capacity_type

  launch_template {
    id      = aws_launch_template.node["user"].id
    version = aws_launch_template.node["user"].latest_version
  }

  # Slipway's node_count is the ceiling the autoscaler may reach (what the
  # cost model counts); min_nodes stay up when the hub is idle.
  scaling_config {
    min_size     = var.min_nodes
    max_size     = var.node_count
    desired_size = var.node_count
  }

  update_config {
    max_unavailable = 1
  }

  labels = { (local.purpose_label) = "user" }

  # Only user servers (which z2jh gives the matching toleration) land here.
  taint {
    key    = "hub.jupyter.org/dedicated"
    value  = "user"
    effect = "NO_SCHEDULE"
  }

  tags = merge(var.tags, { Name = "${local.name}-user" })

  lifecycle {
    # The cluster autoscaler owns the current size; Terraform sets the
    # bounds, and the size at creation.
    ignore_changes = [scaling_config[0].desired_size]

    precondition {
      condition     = var.min_nodes <= var.node_count && var.node_count <= var.max_nodes
      error_message = "node_count must be between min_nodes and max_nodes."
    }
  }

  depends_on = [aws_iam_role_policy_attachment.node]
}
