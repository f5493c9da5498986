# --- Standard variables: Slipway passes them -------------------------------

variable "cluster_name" {
  type        = string
  description = "The cluster's name: the EKS cluster's, and every resource's."
}

variable "organization" {
  type        = string
  description = "The organization owning the cluster (it also reaches every resource as the slipway:org tag)."
}

variable "is_public" {
  type        = bool
  default     = false
  description = "A public hub lets anyone in as a temporary user (tmpauthenticator, mybinder-style); a private one admits nobody until hub_values configures an authenticator."
}

variable "node_count" {
  type        = number
  description = "The most user nodes the autoscaler may run (the user group's maximum): what the cost model counts."
}

variable "min_nodes" {
  type        = number
  description = "User nodes kept running when idle (the user group's minimum)."
}

variable "max_nodes" {
  type        = number
  description = "The blueprint's largest node count."
}

variable "tags" {
  type        = map(string)
  description = "Cost-allocation tags (slipway:org, slipway:cluster, slipway:owner), put on every resource."
}

# The hub does its own sign-in (authenticators in hub_values); Slipway's
# gateway is not in front of it. Declared so the module takes Slipway's
# standard inputs; not used.
variable "jwt_issuer" {
  type        = string
  default     = ""
  description = "Slipway's public URL (not used)."
}

variable "jwks_url" {
  type        = string
  default     = ""
  description = "Where the issuer publishes its signing keys (not used)."
}

variable "revocations_url" {
  type        = string
  default     = ""
  description = "Where the issuer publishes its revoked tokens (not used)."
}

# --- Site and user variables (blueprint.toml [variables.*]) ----------------

variable "region" {
  type        = string
  default     = "us-west-2"
  description = "AWS region."
}

variable "private_subnet_ids" {
  type        = string
  description = "Comma-separated existing private subnets (two or more zones, outbound HTTPS) for the control plane's interfaces, the nodes and the file system."
}

variable "kubernetes_version" {
  type        = string
  default     = ""
  description = "Kubernetes minor version, e.g. 1.33. Empty: EKS's default at creation (then kept)."
}

variable "api_cidr" {
  type        = string
  default     = "0.0.0.0/0"
  description = "Who may reach the Kubernetes API's public endpoint (Slipway's workers must)."

  validation {
    condition     = can(cidrhost(var.api_cidr, 0))
    error_message = "api_cidr must be a CIDR block."
  }
}

variable "admin_principal_arn" {
  type        = string
  default     = ""
  description = "An IAM role or user given cluster-admin access besides the identity running Terraform (optional)."
}

variable "core_instance_type" {
  type        = string
  default     = "m6i.large"
  description = "Instance type of the core nodes (hub, proxy, autoscaler)."
}

variable "core_nodes" {
  type        = number
  default     = 2
  description = "How many core nodes (on demand)."
}

variable "user_instance_types" {
  type        = string
  default     = "m6i.xlarge,m6a.xlarge,m5.xlarge"
  description = "Comma-separated instance types of the user nodes."
}

variable "user_capacity_type" {
  type        = string
  default     = "ON_DEMAND"
  description = "ON_DEMAND or SPOT for the user nodes (a spot interruption ends the sessions on the node)."

  validation {
    condition     = contains(["ON_DEMAND", "SPOT"], var.user_capacity_type)
    error_message = "user_capacity_type must be ON_DEMAND or SPOT."
  }
}

variable "user_volume_gb" {
  type        = number
  default     = 50
  description = "Root volume of each user node (images are large), GiB."
}

variable "efs_backups" {
  type        = bool
  default     = true
  description = "Back up the home directories with AWS Backup (recovery points outlive the cluster)."
}

variable "hub_chart_version" {
  type        = string
  default     = "4.3.3"
  description = "Version of the Zero to JupyterHub Helm chart."
}

variable "autoscaler_chart_version" {
  type        = string
  default     = "9.53.0"
  description = "Version of the cluster-autoscaler Helm chart (the autoscaler image follows the cluster's Kubernetes version)."
}

variable "hub_host" {
  type        = string
  default     = ""
  description = "The hub's DNS name (point it at the hub_load_balancer output); set, the proxy gets a Let's Encrypt certificate and the endpoint is https://<hub_host>."
}

variable "acme_email" {
  type        = string
  default     = ""
  description = "Contact address for the hub's Let's Encrypt certificate."
}

variable "hub_values" {
  type        = string
  default     = ""
  sensitive   = true
  description = "Extra Zero to JupyterHub values (YAML), applied last: authenticator (with its secrets), images, profiles, resources."
}
