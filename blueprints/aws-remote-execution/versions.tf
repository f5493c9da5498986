terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.40"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.4"
    }
  }
}

# Credentials come from the ambient AWS chain: Slipway runs Terraform with
# AWS_PROFILE (and the shared config and credentials files) chosen by its
# configuration for this blueprint or organization. None is a variable.
provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}
