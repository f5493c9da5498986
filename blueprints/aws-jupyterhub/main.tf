# aws-jupyterhub: an EKS cluster for hub-style deployments.
#
#   EKS control plane (secrets encrypted with a KMS key, audit logs)
#   core node group (on demand, fixed size): hub, proxy, autoscaler
#   user node group (min_nodes..node_count): user servers, scaled by the
#     cluster autoscaler (IAM role for its service account)
#   EFS: home directories, one access point, mounted into every user pod at
#     /home/jovyan with a sub-directory per user
#   Zero to JupyterHub (Helm), its proxy behind a network load balancer

data "aws_partition" "current" {}

data "aws_subnet" "private" {
  id = local.private_subnet_ids[0]
}

locals {
  name               = var.cluster_name
  private_subnet_ids = compact([for s in split(",", var.private_subnet_ids) : trimspace(s)])
  vpc_id             = data.aws_subnet.private.vpc_id
  partition          = data.aws_partition.current.partition
  oidc_issuer        = trimprefix(aws_eks_cluster.this.identity[0].oidc[0].issuer, "https://")

  # z2jh's node purposes: core pods and user pods require their own nodes.
  purpose_label = "hub.jupyter.org/node-purpose"
}

# --- Control plane ----------------------------------------------------------

data "aws_iam_policy_document" "eks_assume" {
  statement {
    actions = ["sts:AssumeRole", "sts:TagSession"]
    principals {
      type        = "Service"
      identifiers = ["eks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "cluster" {
  name               = "${local.name}-eks-cluster"
  description        = "EKS control plane of Slipway cluster ${local.name} (${var.organization})"
  assume_role_policy = data.aws_iam_policy_document.eks_assume.json
  tags               = merge(var.tags, { Name = "${local.name}-eks-cluster" })
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonEKSClusterPolicy"
}

resource "aws_kms_key" "secrets" {
  description             = "Kubernetes secrets of Slipway cluster ${local.name}"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  tags                    = merge(var.tags, { Name = "${local.name}-eks-secrets" })
}

# Created before the cluster so its retention (and tags) apply.
resource "aws_cloudwatch_log_group" "cluster" {
  name              = "/aws/eks/${local.name}/cluster"
  retention_in_days = 30
  tags              = merge(var.tags, { Name = "${local.name}-eks" })
}

resource "aws_eks_cluster" "this" {
  name                      = local.name
  version                   = var.kubernetes_version != "" ? var.kubernetes_version : null
  role_arn                  = aws_iam_role.cluster.arn
  enabled_cluster_log_types = ["api", "audit", "authenticator"]

  vpc_config {
    subnet_ids              = local.private_subnet_ids
    endpoint_private_access = true
    endpoint_public_access  = true
    public_access_cidrs     = [var.api_cidr]
  }

  # Access entries only; the identity running Terraform (Slipway's profile)
  # is the cluster's first administrator, which the Kubernetes and Helm
  # providers rely on.
  access_config {
    authentication_mode                         = "API"
    bootstrap_cluster_creator_admin_permissions = true
  }

  encryption_config {
    resources = ["secrets"]
    provider {
      key_arn = aws_kms_key.secrets.arn
    }
  }

  tags = merge(var.tags, { Name = local.name })

  depends_on = [
    aws_iam_role_policy_attachment.cluster,
    aws_cloudwatch_log_group.cluster,
  ]
}

resource "aws_eks_access_entry" "admin" {
  count         = var.admin_principal_arn != "" ? 1 : 0
  cluster_name  = aws_eks_cluster.this.name
  principal_arn = var.admin_principal_arn
  tags          = merge(var.tags, { Name = "${local.name}-admin" })
}

resource "aws_eks_access_policy_association" "admin" {
  count         = var.admin_principal_arn != "" ? 1 : 0
  cluster_name  = aws_eks_cluster.this.name
  principal_arn = aws_eks_access_entry.admin[0].principal_arn
  policy_arn    = "arn:${local.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

  access_scope {
    type = "cluster"
  }
}

# --- IAM roles for service accounts -----------------------------------------

data "tls_certificate" "oidc" {
  url = aws_eks_cluster.this.identity[0].oidc[0].issuer
}

resource "aws_iam_openid_connect_provider" "this" {
  url             = aws_eks_cluster.this.identity[0].oidc[0].issuer
  client_id_list  = ["sts.amazonaws.com"]
  thumbprint_list = [data.tls_certificate.oidc.certificates[0].sha1_fingerprint]
  tags            = merge(var.tags, { Name = "${local.name}-oidc" })
}

data "aws_iam_policy_document" "irsa_assume" {
  for_each = {
    autoscaler = ["system:serviceaccount:kube-system:cluster-autoscaler"]
    efs-csi = [
      "system:serviceaccount:kube-system:efs-csi-controller-sa",
      "system:serviceaccount:kube-system:efs-csi-node-sa",
    ]
  }

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.this.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:sub"
      values   = each.value
    }
  }
}

resource "aws_iam_role" "irsa" {
  for_each           = data.aws_iam_policy_document.irsa_assume
  name               = "${local.name}-${each.key}"
  description        = "${each.key} service account of Slipway cluster ${local.name}"
  assume_role_policy = each.value.json
  tags               = merge(var.tags, { Name = "${local.name}-${each.key}" })
}

resource "aws_iam_role_policy_attachment" "efs_csi" {
  role       = aws_iam_role.irsa["efs-csi"].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonEFSCSIDriverPolicy"
}

# The cluster autoscaler reads every group but may resize or shrink only the
# groups of this cluster (tagged by EKS for auto-discovery).
data "aws_iam_policy_document" "autoscaler" {
  statement {
    actions = [
      "autoscaling:DescribeAutoScalingGroups",
      "autoscaling:DescribeAutoScalingInstances",
      "autoscaling:DescribeLaunchConfigurations",
      "autoscaling:DescribeScalingActivities",
      "autoscaling:DescribeTags",
      "ec2:DescribeImages",
      "ec2:DescribeInstanceTypes",
      "ec2:DescribeLaunchTemplateVersions",
      "ec2:GetInstanceTypesFromInstanceRequirements",
      "eks:DescribeNodegroup",
    ]
    resources = ["*"]
  }
  statement {
    actions   = ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/k8s.io/cluster-autoscaler/${local.name}"
      values   = ["owned"]
    }
  }
}

resource "aws_iam_role_policy" "autoscaler" {
  name   = "cluster-autoscaler"
  role   = aws_iam_role.irsa["autoscaler"].id
  policy = data.aws_iam_policy_document.autoscaler.json
}
