# --- Standard variables: Slipway passes them -------------------------------

variable "cluster_name" {
  type        = string
  description = "The cluster's name: the gateway admits only tokens whose audience is exactly this; names every resource and the DNS record."
}

variable "organization" {
  type        = string
  description = "The organization owning the cluster (it also reaches every resource as the slipway:org tag)."
}

variable "is_public" {
  type        = bool
  default     = false
  description = "Whether the gateway admits callers without a token (as anonymous, rate-limited per network region)."
}

variable "node_count" {
  type        = number
  description = "How many processing nodes the auto-scaling group keeps."
}

variable "min_nodes" {
  type        = number
  description = "The blueprint's smallest node count: the auto-scaling group's minimum."
}

variable "max_nodes" {
  type        = number
  description = "The blueprint's largest node count: the auto-scaling group's maximum."
}

variable "tags" {
  type        = map(string)
  description = "Cost-allocation tags (slipway:org, slipway:cluster, slipway:owner), put on every resource."
}

variable "jwt_issuer" {
  type        = string
  default     = ""
  description = "Slipway's public URL: the exact issuer of the cluster tokens the gateway admits. Empty: no token is valid."
}

variable "jwks_url" {
  type        = string
  default     = ""
  description = "Where the issuer publishes its signing keys. Empty: <jwt_issuer>/.well-known/jwks.json."
}

variable "revocations_url" {
  type        = string
  default     = ""
  description = "Where the issuer publishes its signed list of revoked tokens. Empty: <jwt_issuer>/.well-known/revocations."
}

# --- Site and user variables (blueprint.toml [variables.*]) ----------------

variable "region" {
  type        = string
  default     = "us-west-2"
  description = "AWS region. SlideRule's ICESat-2 data lives in us-west-2."
}

variable "availability_zone" {
  type        = string
  description = "The one availability zone the cluster runs in (spot prices differ per zone); both subnets must be in it."
}

variable "public_subnet_id" {
  type        = string
  description = "An existing public subnet (route to an internet gateway) for the gateway."
}

variable "private_subnet_id" {
  type        = string
  description = "An existing private subnet (outbound through NAT or VPC endpoints) for the manager and the nodes."
}

variable "hosted_zone_name" {
  type        = string
  description = "An existing public Route 53 hosted zone; the cluster answers at https://<cluster_name>.<hosted_zone_name>."
}

variable "gateway_release_url" {
  type        = string
  description = "HTTPS URL of a Linux build of the slipway executable (a bare binary or a .tar.gz holding one) for the chosen architecture."

  validation {
    condition     = startswith(var.gateway_release_url, "https://")
    error_message = "gateway_release_url must be an https:// URL."
  }
}

variable "gateway_release_sha256" {
  type        = string
  default     = ""
  description = "SHA-256 of the file at gateway_release_url; when set, the download is refused unless it matches."

  validation {
    condition     = var.gateway_release_sha256 == "" || can(regex("^[0-9a-f]{64}$", var.gateway_release_sha256))
    error_message = "gateway_release_sha256 must be 64 lowercase hex digits, or empty."
  }
}

variable "architecture" {
  type        = string
  default     = "x86_64"
  description = "CPU architecture of every instance (x86_64 or arm64); instance types and the slipway build must match."

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "ami_id" {
  type        = string
  default     = ""
  description = "AMI for every instance. Empty: the latest Amazon Linux 2023 for the architecture, looked up in SSM (a new release then rolls the nodes at the next deploy; pin an AMI to avoid that)."
}

variable "gateway_instance_type" {
  type        = string
  default     = "t3.small"
  description = "Instance type of the gateway (on demand)."
}

variable "manager_instance_type" {
  type        = string
  default     = "t3.medium"
  description = "Instance type of the manager, which runs Prometheus and Grafana (on demand)."
}

variable "node_instance_types" {
  type        = string
  default     = "c6i.xlarge,c6a.xlarge,c5.xlarge,m6i.xlarge"
  description = "Comma-separated spot instance types for the nodes, in order of preference."

  validation {
    condition     = length(compact([for t in split(",", var.node_instance_types) : trimspace(t)])) > 0
    error_message = "node_instance_types must name at least one instance type."
  }
}

variable "spot_max_price" {
  type        = string
  default     = ""
  description = "Highest hourly price paid for a spot node, in USD (e.g. \"0.10\"). Empty: the on-demand price."

  validation {
    condition     = var.spot_max_price == "" || can(tonumber(var.spot_max_price))
    error_message = "spot_max_price must be a number of dollars, or empty."
  }
}

variable "spot_allocation_strategy" {
  type        = string
  default     = "price-capacity-optimized"
  description = "How the auto-scaling group chooses spot pools."

  validation {
    condition     = contains(["price-capacity-optimized", "capacity-optimized", "capacity-optimized-prioritized", "lowest-price"], var.spot_allocation_strategy)
    error_message = "spot_allocation_strategy must be price-capacity-optimized, capacity-optimized, capacity-optimized-prioritized or lowest-price."
  }
}

variable "node_image" {
  type        = string
  default     = ""
  description = "Container image each node runs (e.g. a SlideRule server image); it must serve HTTP on node_port and answer GET /health. Empty: `slipway node run`, an echo server to rehearse the cluster."
}

variable "node_port" {
  type        = number
  default     = 9081
  description = "TCP port the nodes serve on, reachable from the gateway only."

  validation {
    condition     = var.node_port >= 1024 && var.node_port <= 65535 && !contains([9100], var.node_port)
    error_message = "node_port must be between 1024 and 65535 and not 9100 (the node exporter)."
  }
}

variable "node_volume_gb" {
  type        = number
  default     = 30
  description = "Size of each node's encrypted root volume, in GiB."
}

variable "ingress_cidr" {
  type        = string
  default     = "0.0.0.0/0"
  description = "Who may reach the gateway (HTTPS, and HTTP for certificate issuance), as a CIDR block."

  validation {
    condition     = can(cidrhost(var.ingress_cidr, 0))
    error_message = "ingress_cidr must be a CIDR block."
  }
}

variable "acme_email" {
  type        = string
  default     = ""
  description = "Contact address given to Let's Encrypt for the gateway's certificate (optional)."
}
