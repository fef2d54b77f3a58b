# The base state: the posts table, the image repository and the build project. Apply it first; it
# changes rarely and outlives any number of service stacks.
terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
  }

  # State stays local until you choose a remote backend; for a shared account, see docs/aws-setup.md
  # ("Remote state").
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      "bluegreen:environment" = var.environment
      "bluegreen:managed-by"  = "terraform"
    }
  }
}

module "base" {
  source = "../../../modules/base"

  name                      = var.name
  region                    = var.region
  table_name                = var.table_name
  authors_table_name        = var.authors_table_name
  table_deletion_protection = var.table_deletion_protection
  ecr_repository_name       = var.ecr_repository_name
  codebuild_project_name    = var.codebuild_project_name
  source_type               = var.source_type
  source_location           = var.source_location
  source_branch             = var.source_branch
  log_retention_days        = var.log_retention_days
}
