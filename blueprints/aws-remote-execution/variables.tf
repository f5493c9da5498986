# --- Standard variables: Slipway passes them -------------------------------

variable "cluster_name" {
  type        = string
  description = "The cluster's name: names every resource and the DNS names under base_domain."
}

variable "organization" {
  type        = string
  description = "The organization owning the cluster (it also reaches every resource as the slipway:org tag)."
}

variable "is_public" {
  type        = bool
  default     = false
  description = "Whether anyone may reach the cache and execution endpoints; a private cluster admits client_cidr only."
}

variable "node_count" {
  type        = number
  description = "How many workers run, x86 and ARM together (arm_worker_percent of them ARM)."
}

variable "min_nodes" {
  type        = number
  description = "The blueprint's smallest node count."
}

variable "max_nodes" {
  type        = number
  description = "The blueprint's largest node count: each worker group's maximum."
}

variable "tags" {
  type        = map(string)
  description = "Cost-allocation tags (slipway:org, slipway:cluster, slipway:owner), put on every resource."
}

# NativeLink speaks gRPC (HTTP/2 end to end), which Slipway's gateway (HTTP/1.1
# to its nodes) does not proxy: this cluster is reached directly, and access
# is by network (client_cidr, is_public). The issuer's URLs are declared so the
# module takes Slipway's standard inputs; they are not used.
variable "jwt_issuer" {
  type        = string
  default     = ""
  description = "Slipway's public URL (not used: see above)."
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

variable "base_domain" {
  type        = string
  description = "An existing public Route 53 hosted zone; the cluster answers at <cluster_name>.<base_domain>."
}

variable "public_subnet_ids" {
  type        = string
  description = "Comma-separated existing public subnets (two or more zones) for the load balancer."
}

variable "private_subnet_ids" {
  type        = string
  description = "Comma-separated existing private subnets (outbound HTTPS through NAT or endpoints) for every instance."
}

variable "client_cidr" {
  type        = string
  default     = ""
  description = "CIDR block of the clients (Bazel, Buck2, ...) admitted on a private cluster; required unless is_public."

  validation {
    condition     = var.client_cidr == "" || can(cidrhost(var.client_cidr, 0))
    error_message = "client_cidr must be a CIDR block, or empty."
  }
}

variable "nativelink_version" {
  type        = string
  default     = "1.6.6"
  description = "NativeLink release baked into the images; the configurations in config/ are written for 1.6."
}

variable "nativelink_release_base_url" {
  type        = string
  default     = "https://github.com/TraceMachina/nativelink/releases/download"
  description = "Where the builder downloads v<version>/nativelink-<version>-<target>.tar.gz and its .sha256 (a mirror for air-gapped sites)."
}

variable "keep_builder" {
  type        = bool
  default     = false
  description = "Keep the image builders running after the images are made (to inspect them); otherwise they are stopped."
}

variable "arm_worker_percent" {
  type        = number
  default     = 50
  description = "Share of node_count run as ARM workers, in percent; the rest are x86."

  validation {
    condition     = var.arm_worker_percent >= 0 && var.arm_worker_percent <= 100
    error_message = "arm_worker_percent must be between 0 and 100."
  }
}

variable "x86_worker_instance_types" {
  type        = string
  default     = "c6id.2xlarge,m6id.2xlarge,c5d.2xlarge,m5d.2xlarge"
  description = "Comma-separated x86 spot instance types with local NVMe storage."
}

variable "arm_worker_instance_types" {
  type        = string
  default     = "c6gd.2xlarge,m6gd.2xlarge,c7gd.2xlarge,m7gd.2xlarge"
  description = "Comma-separated ARM (Graviton) spot instance types with local NVMe storage."
}

variable "cas_instance_type" {
  type        = string
  default     = "r7g.large"
  description = "ARM instance type of the CAS servers (memory in front of S3)."
}

variable "cas_instances" {
  type        = number
  default     = 1
  description = "How many CAS servers the load balancer spreads over."
}

variable "scheduler_instance_type" {
  type        = string
  default     = "m7g.large"
  description = "ARM instance type of the one scheduler."
}
