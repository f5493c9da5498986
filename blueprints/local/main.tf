# The embedded `local` blueprint (docs/domain.md §5): N `slipway node` processes
# behind a `slipway gateway` (docs/domain.md §7) on this machine, started and
# stopped by real Terraform. Only the built-in `terraform_data` resource with
# `local-exec` is used, so no provider is downloaded.
#
# Values reach the commands through each provisioner's `environment` map
# (read by `slipway node` and `slipway gateway` as SLIPWAY_* variables), so
# paths need no quoting.
#
# Everything here is a function of the cluster, never of the process that
# runs Terraform, so any replica or worker on this machine can run the next
# operation and find nothing to change: `runtime_dir` is the cluster's own
# (Slipway records it at the first deploy), and the `slipway` executable
# reaches the provisioners as `SLIPWAY_BIN` in Terraform's environment — not
# as a variable, which Terraform would keep in the state — so every command,
# a destroy's included, uses the executable of the process running it.
#
# Every process keeps its state file in the runtime directory: the nodes
# `node-<i>.json`, the gateway `gateway.json`. The gateway follows the
# directory, so scaling the nodes never restarts it.
#
# The gateway is the only way in: each node listens on a Unix socket in the
# runtime directory (`node-<i>.sock`, mode 600, in a directory of mode 700),
# which only Slipway's own user — the gateway — can connect to, so nobody can
# reach a node with forged identity headers. Node addresses are no output.

terraform {
  required_version = ">= 1.4"
}

variable "cluster_name" {
  type        = string
  description = "The cluster's name; every node reports it."
}

variable "node_count" {
  type        = number
  description = "How many node processes to run."

  validation {
    condition     = var.node_count >= 0 && floor(var.node_count) == var.node_count
    error_message = "node_count must be a whole number, 0 or more."
  }
}

variable "boot_seconds" {
  type        = number
  default     = 0
  description = "Seconds each node takes to boot before it answers, to rehearse slow clusters."
}

variable "scheduler_node" {
  type        = number
  default     = 0
  description = "Which node is the scheduler: what the registration record says, where every node looks it up."
}

variable "runtime_dir" {
  type        = string
  description = "A directory on this machine, kept between operations, for the nodes' and the gateway's state files and logs."
}

variable "is_public" {
  type        = bool
  default     = false
  description = "Whether the gateway admits callers without a token (as anonymous, rate-limited by network region)."
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
  description = "Where the issuer publishes its signed list of revoked tokens, which the gateway polls and refuses. Empty: <jwt_issuer>/.well-known/revocations."
}

# The runtime directory. Destroyed last (every node and the gateway depend on
# it), and its destroy provisioner stops every node and the gateway recorded
# in the directory. That matters: Terraform does not run the destroy
# provisioners of a tainted resource (one whose create provisioner failed or
# was interrupted), so a process's own `stop` cannot be the only way it ends.
resource "terraform_data" "runtime" {
  # A new directory means a new runtime (and new nodes).
  triggers_replace = var.runtime_dir

  input = {
    dir = var.runtime_dir
  }

  provisioner "local-exec" {
    command = "mkdir -p -m 700 \"$SLIPWAY_NODE_DIR\" && chmod 700 \"$SLIPWAY_NODE_DIR\""
    environment = {
      SLIPWAY_NODE_DIR = self.input.dir
    }
  }

  provisioner "local-exec" {
    when    = destroy
    command = "\"$SLIPWAY_BIN\" node stop-all"
    environment = {
      SLIPWAY_NODE_DIR = self.output.dir
    }
  }
}

# The cluster's data: a directory (`<runtime_dir>/data`) its work lands in,
# deletion-protected like a bucket that holds objects: a destroy fails while
# it holds files, saying so, and leaves the cluster failed with that error
# (the nodes and the gateway are stopped all the same); once it is emptied,
# the next destroy succeeds.
resource "terraform_data" "data" {
  triggers_replace = terraform_data.runtime.input.dir

  input = {
    dir = "${terraform_data.runtime.input.dir}/data"
  }

  provisioner "local-exec" {
    command = "mkdir -p -m 700 \"$SLIPWAY_DATA_DIR\""
    environment = {
      SLIPWAY_DATA_DIR = self.input.dir
    }
  }

  provisioner "local-exec" {
    when    = destroy
    command = "if [ -n \"$(ls -A \"$SLIPWAY_DATA_DIR\" 2>/dev/null)\" ]; then echo \"the data directory $SLIPWAY_DATA_DIR holds files: empty it, then destroy again\" >&2; exit 1; fi; rm -rf \"$SLIPWAY_DATA_DIR\""
    environment = {
      SLIPWAY_DATA_DIR = self.output.dir
    }
  }
}

# Which node is the scheduler, registered where the nodes look it up
# (`scheduler.json` beside their state files), the way a cloud cluster's
# workers find their scheduler through a DNS record a function updates when
# the scheduler's instance changes. Moving it rewrites the record; no node
# restarts (each reads it at every health check).
resource "terraform_data" "registration" {
  triggers_replace = {
    node = var.scheduler_node
    dir  = terraform_data.runtime.input.dir
  }

  input = {
    node   = var.scheduler_node
    record = "${terraform_data.runtime.input.dir}/scheduler.json"
  }

  provisioner "local-exec" {
    command = "printf '{\"node\": %s}\\n' \"$SLIPWAY_SCHEDULER_NODE\" > \"$SLIPWAY_REGISTRATION.new\" && mv \"$SLIPWAY_REGISTRATION.new\" \"$SLIPWAY_REGISTRATION\""
    environment = {
      SLIPWAY_SCHEDULER_NODE = tostring(self.input.node)
      SLIPWAY_REGISTRATION   = self.input.record
    }
  }

  provisioner "local-exec" {
    when    = destroy
    command = "rm -f \"$SLIPWAY_REGISTRATION\""
    environment = {
      SLIPWAY_REGISTRATION = self.output.record
    }
  }
}

resource "terraform_data" "node" {
  count = var.node_count

  # Only what identifies the node replaces it, so changing node_count adds or
  # removes the nodes at the end and leaves the others running. A node
  # counts the times it was stopped outside Slipway (`node-<i>.exits`), so
  # such a stop is a difference the next plan sees — a drift check reports
  # it, and a deploy of the same configuration starts the node again.
  triggers_replace = {
    cluster = var.cluster_name
    index   = count.index
    state   = "${terraform_data.runtime.input.dir}/node-${count.index}.json"
    exits   = try(trimspace(file("${terraform_data.runtime.input.dir}/node-${count.index}.exits")), "0")
  }

  input = {
    cluster = var.cluster_name
    index   = count.index
    state   = "${terraform_data.runtime.input.dir}/node-${count.index}.json"
  }

  # Idempotent: stops whatever the state file still records first, so a
  # tainted node being replaced leaves no stray process behind.
  provisioner "local-exec" {
    command = "\"$SLIPWAY_BIN\" node start"
    environment = {
      SLIPWAY_NODE_CLUSTER    = self.input.cluster
      SLIPWAY_NODE_INDEX      = tostring(self.input.index)
      SLIPWAY_NODE_STATE_FILE = self.input.state
      SLIPWAY_NODE_BOOT_DELAY = tostring(var.boot_seconds)
    }
  }

  provisioner "local-exec" {
    when    = destroy
    command = "\"$SLIPWAY_BIN\" node stop"
    environment = {
      SLIPWAY_NODE_STATE_FILE = self.output.state
    }
  }
}

# The cluster's front door: checks cluster tokens (audience exactly this
# cluster), rate-limits, and spreads requests over the healthy nodes it finds
# in the runtime directory. Only what the gateway enforces replaces it;
# changing node_count leaves it running (it picks up nodes as their state
# files come and go).
resource "terraform_data" "gateway" {
  triggers_replace = {
    cluster         = var.cluster_name
    public          = var.is_public
    issuer          = var.jwt_issuer
    jwks_url        = var.jwks_url
    revocations_url = var.revocations_url
    state           = "${terraform_data.runtime.input.dir}/gateway.json"
  }

  input = {
    cluster         = var.cluster_name
    public          = var.is_public
    issuer          = var.jwt_issuer
    jwks_url        = var.jwks_url
    revocations_url = var.revocations_url
    dir             = terraform_data.runtime.input.dir
    state           = "${terraform_data.runtime.input.dir}/gateway.json"
  }

  # On a first deploy the nodes start first, so the gateway's first health
  # check finds them and the endpoint answers as soon as the apply ends.
  depends_on = [terraform_data.node]

  # Idempotent: stops whatever the state file still records first.
  provisioner "local-exec" {
    command = "\"$SLIPWAY_BIN\" gateway start"
    environment = {
      SLIPWAY_GATEWAY_CLUSTER         = self.input.cluster
      SLIPWAY_GATEWAY_PUBLIC          = tostring(self.input.public)
      SLIPWAY_GATEWAY_ISSUER          = self.input.issuer
      SLIPWAY_GATEWAY_JWKS_URL        = self.input.jwks_url
      SLIPWAY_GATEWAY_REVOCATIONS_URL = self.input.revocations_url
      SLIPWAY_GATEWAY_NODE_DIR        = self.input.dir
      SLIPWAY_GATEWAY_STATE_FILE      = self.input.state
    }
  }

  provisioner "local-exec" {
    when    = destroy
    command = "\"$SLIPWAY_BIN\" gateway stop"
    environment = {
      SLIPWAY_GATEWAY_STATE_FILE = self.output.state
    }
  }
}

# Read from the state files the create provisioners wrote: a root output is
# evaluated after the provisioners ran. During plan a file may not exist yet,
# hence `try`.
output "endpoint" {
  description = "The cluster's front door: the gateway's URL."
  value       = try(jsondecode(file(terraform_data.gateway.output.state)).url, null)
}
