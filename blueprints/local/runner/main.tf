# The `local` blueprint's runner module: where a TEST or RELEASE run of a
# blueprint whose jobs use `runner = "terraform"` executes. Slipway applies it
# for one run and destroys it afterwards whatever happened (docs/domain.md §4).
#
# On a cloud this module would start a time-limited spot machine whose
# start-up script runs the job and uploads its log. Here the machine is a
# directory of the run's own on this one: `slipway job exec` clones the
# project at the version, runs each step with its time limit, prints every
# line (Terraform passes them on as the run's log) and writes the results
# file the `results` output reads.
#
# Two resources, like the cluster's: if the run is interrupted, Terraform
# taints `terraform_data.run` and would not run its destroy provisioners; the
# workspace's destroy still stops whatever runs in the directory and removes
# it.

terraform {
  required_version = ">= 1.4"
}

variable "run_id" {
  type        = string
  description = "The run (its operation id)."
}

variable "job" {
  type        = string
  description = "The run as JSON: cluster, endpoint, repository, version, steps."
}

# Not marked sensitive: Terraform would then hide the provisioner's output,
# which is the run's log. Slipway passes it in the environment and masks it in
# every log line.
variable "cluster_token" {
  type        = string
  description = "A fresh cluster token the steps get as SLIPWAY_CLUSTER_TOKEN."
}

variable "runtime_dir" {
  type        = string
  description = "A directory of the run's own on this machine."
}

variable "time_limit_seconds" {
  type        = number
  description = "How long the run may take at most (a cloud machine would shut itself down after it)."
}

resource "terraform_data" "workspace" {
  # The slipway executable is `SLIPWAY_BIN` in Terraform's environment:
  # the process that applies or destroys the runner passes its own.
  input = {
    dir = var.runtime_dir
  }

  provisioner "local-exec" {
    command = "mkdir -p \"$SLIPWAY_JOB_DIR\""
    environment = {
      SLIPWAY_JOB_DIR = self.input.dir
    }
  }

  provisioner "local-exec" {
    when    = destroy
    command = "\"$SLIPWAY_BIN\" job stop"
    environment = {
      SLIPWAY_JOB_DIR = self.output.dir
    }
  }
}

resource "terraform_data" "run" {
  input = {
    run_id = var.run_id
    dir    = terraform_data.workspace.output.dir
  }

  provisioner "local-exec" {
    command = "\"$SLIPWAY_BIN\" job exec"
    environment = {
      SLIPWAY_JOB           = var.job
      SLIPWAY_CLUSTER_TOKEN = var.cluster_token
      SLIPWAY_JOB_DIR       = self.input.dir
    }
  }
}

# Read after the run's provisioner wrote it.
output "results" {
  description = "The run's report: every step's result, and why it could not run, if so."
  value       = try(jsondecode(file("${terraform_data.run.output.dir}/results.json")), null)
}
