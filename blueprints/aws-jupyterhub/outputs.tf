output "endpoint" {
  description = "The hub's URL: https://<hub_host> when set, otherwise the proxy's load balancer over HTTP."
  value       = var.hub_host != "" ? "https://${var.hub_host}" : "http://${local.hub_load_balancer}"
}

output "hub_load_balancer" {
  description = "The proxy's load balancer host name (point hub_host's DNS record at it)."
  value       = local.hub_load_balancer
}

output "cluster_name" {
  description = "The EKS cluster."
  value       = aws_eks_cluster.this.name
}

output "cluster_endpoint" {
  description = "The Kubernetes API server."
  value       = aws_eks_cluster.this.endpoint
}

output "cluster_certificate_authority" {
  description = "The API server's CA certificate, base64 (public)."
  value       = aws_eks_cluster.this.certificate_authority[0].data
}

output "kubeconfig" {
  description = "A kubeconfig that gets a token with the caller's own AWS credentials (aws eks get-token); it holds no secret."
  value = yamlencode({
    apiVersion        = "v1"
    kind              = "Config"
    "current-context" = aws_eks_cluster.this.name
    clusters = [{
      name    = aws_eks_cluster.this.name
      cluster = { server = aws_eks_cluster.this.endpoint, "certificate-authority-data" = aws_eks_cluster.this.certificate_authority[0].data }
    }]
    contexts = [{
      name    = aws_eks_cluster.this.name
      context = { cluster = aws_eks_cluster.this.name, user = aws_eks_cluster.this.name }
    }]
    users = [{
      name = aws_eks_cluster.this.name
      user = {
        exec = {
          apiVersion = "client.authentication.k8s.io/v1beta1"
          command    = "aws"
          args       = ["eks", "get-token", "--cluster-name", aws_eks_cluster.this.name, "--region", var.region]
        }
      }
    }]
  })
}

output "kubernetes_token" {
  description = "A token for the API server as the identity that ran Terraform, valid for 15 minutes from the run."
  value       = data.aws_eks_cluster_auth.this.token
  sensitive   = true
}

output "home_file_system" {
  description = "The EFS file system holding the home directories."
  value       = aws_efs_file_system.home.id
}
