# What runs in the cluster: the EFS CSI driver (an EKS add-on), the home
# volume, the cluster autoscaler and JupyterHub (Helm).

resource "aws_eks_addon" "efs_csi" {
  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = "aws-efs-csi-driver"
  service_account_role_arn    = aws_iam_role.irsa["efs-csi"].arn
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"
  tags                        = merge(var.tags, { Name = "${local.name}-efs-csi" })

  depends_on = [aws_eks_node_group.core]
}

resource "kubernetes_namespace_v1" "hub" {
  metadata {
    name = "jupyterhub"
  }

  depends_on = [aws_eks_node_group.core]
}

# A static volume on the access point, and the claim the hub mounts for
# every user with subPath {username}. The storage class name only pairs the
# two (no provisioner is involved).
resource "kubernetes_persistent_volume_v1" "home" {
  metadata {
    name = "${local.name}-home"
  }

  spec {
    capacity                         = { storage = "1Ti" } # EFS is elastic; nominal
    access_modes                     = ["ReadWriteMany"]
    persistent_volume_reclaim_policy = "Retain"
    storage_class_name               = "efs-home"

    persistent_volume_source {
      csi {
        driver        = "efs.csi.aws.com"
        volume_handle = "${aws_efs_file_system.home.id}::${aws_efs_access_point.home.id}"
      }
    }
  }

  depends_on = [aws_eks_addon.efs_csi, aws_efs_mount_target.home]
}

resource "kubernetes_persistent_volume_claim_v1" "home" {
  metadata {
    name      = "home"
    namespace = kubernetes_namespace_v1.hub.metadata[0].name
  }

  spec {
    access_modes       = ["ReadWriteMany"]
    storage_class_name = "efs-home"
    volume_name        = kubernetes_persistent_volume_v1.home.metadata[0].name

    resources {
      requests = { storage = "1Ti" }
    }
  }
}

resource "helm_release" "autoscaler" {
  name       = "cluster-autoscaler"
  namespace  = "kube-system"
  repository = "https://kubernetes.github.io/autoscaler"
  chart      = "cluster-autoscaler"
  version    = var.autoscaler_chart_version

  values = [yamlencode({
    cloudProvider = "aws"
    awsRegion     = var.region
    autoDiscovery = { clusterName = aws_eks_cluster.this.name }
    # The autoscaler's minor version must match the cluster's.
    image = { tag = "v${aws_eks_cluster.this.version}.0" }
    rbac = {
      serviceAccount = {
        name        = "cluster-autoscaler"
        annotations = { "eks.amazonaws.com/role-arn" = aws_iam_role.irsa["autoscaler"].arn }
      }
    }
    nodeSelector = { (local.purpose_label) = "core" }
    extraArgs = {
      "balance-similar-node-groups"   = true
      "expander"                      = "least-waste"
      "skip-nodes-with-local-storage" = false
      "scale-down-unneeded-time"      = "10m"
    }
  })]

  depends_on = [aws_eks_node_group.core, aws_iam_role_policy.autoscaler]
}

# The proxy's load balancer is made by Kubernetes, not Terraform: on
# destroy, wait after uninstalling the hub so it is deleted before the
# nodes and the cluster go.
resource "time_sleep" "load_balancer_cleanup" {
  destroy_duration = "120s"

  depends_on = [aws_eks_node_group.core, aws_eks_node_group.user]
}

locals {
  load_balancer_tags = join(",", [for k, v in var.tags : "${k}=${v}"])

  hub_values = {
    proxy = {
      service = {
        type = "LoadBalancer"
        annotations = {
          "service.beta.kubernetes.io/aws-load-balancer-type"                     = "nlb"
          "service.beta.kubernetes.io/aws-load-balancer-additional-resource-tags" = local.load_balancer_tags
        }
      }
      # With hub_host, the proxy gets a certificate from Let's Encrypt.
      https = {
        enabled     = var.hub_host != ""
        hosts       = var.hub_host != "" ? [var.hub_host] : []
        letsencrypt = { contactEmail = var.acme_email }
      }
    }
    hub = {
      config = {
        # Public: anyone gets a temporary user (mybinder-style). Private:
        # nobody signs in until hub_values sets an authenticator.
        JupyterHub    = { authenticator_class = var.is_public ? "tmp" : "null" }
        Authenticator = { allow_all = var.is_public }
      }
    }
    singleuser = {
      storage = {
        type   = "static"
        static = { pvcName = kubernetes_persistent_volume_claim_v1.home.metadata[0].name, subPath = "{username}" }
      }
      cloudMetadata = { blockWithIptables = true }
    }
    scheduling = {
      userScheduler = { enabled = true }
      podPriority   = { enabled = true }
      corePods      = { nodeAffinity = { matchNodePurpose = "require" } }
      userPods      = { nodeAffinity = { matchNodePurpose = "require" } }
    }
    cull = { enabled = true, timeout = 3600 }
  }
}

resource "helm_release" "hub" {
  name       = "jupyterhub"
  namespace  = kubernetes_namespace_v1.hub.metadata[0].name
  repository = "https://hub.jupyter.org/helm-chart/"
  chart      = "jupyterhub"
  version    = var.hub_chart_version
  timeout    = 900

  values = compact([yamlencode(local.hub_values), var.hub_values])

  depends_on = [helm_release.autoscaler, time_sleep.load_balancer_cleanup]
}

data "kubernetes_service_v1" "proxy_public" {
  metadata {
    name      = "proxy-public"
    namespace = helm_release.hub.namespace
  }
}

locals {
  hub_load_balancer = try(data.kubernetes_service_v1.proxy_public.status[0].load_balancer[0].ingress[0].hostname, "")
}
