# The service state: cluster, both colors, load balancer and listeners. Apply it after the base state
# and after the first image is in the repository (docs/aws-setup.md).
terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.7"
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

# Without a vpc_id the stack uses the account's default VPC and its default subnets, as the seed did.
data "aws_vpc" "default" {
  count   = var.vpc_id == null ? 1 : 0
  default = true
}

data "aws_subnets" "default" {
  count = var.vpc_id == null ? 1 : 0

  filter {
    name   = "vpc-id"
    values = [one(data.aws_vpc.default[*].id)]
  }

  filter {
    name   = "default-for-az"
    values = ["true"]
  }
}

locals {
  # Splats instead of [0]: both branches of a conditional are evaluated, and the lookups have no
  # instance when vpc_id is given.
  vpc_id          = var.vpc_id != null ? var.vpc_id : one(data.aws_vpc.default[*].id)
  default_subnets = flatten(data.aws_subnets.default[*].ids)
  alb_subnet_ids  = var.alb_subnet_ids != null ? var.alb_subnet_ids : local.default_subnets
  task_subnet_ids = var.task_subnet_ids != null ? var.task_subnet_ids : local.default_subnets
}

module "service" {
  source = "../../../modules/service"

  name                    = var.name
  region                  = var.region
  table_name              = var.table_name
  authors_table_name      = var.authors_table_name
  journal_table_name      = var.journal_table_name
  ecr_repository_name     = var.ecr_repository_name
  codebuild_project_name  = var.codebuild_project_name
  image_tag               = var.image_tag
  vpc_id                  = local.vpc_id
  alb_subnet_ids          = local.alb_subnet_ids
  task_subnet_ids         = local.task_subnet_ids
  assign_public_ip        = var.assign_public_ip
  prod_listener_port      = var.prod_listener_port
  test_listener_port      = var.test_listener_port
  prod_ingress_cidrs      = var.prod_ingress_cidrs
  test_ingress_cidrs      = var.test_ingress_cidrs
  certificate_arn         = var.certificate_arn
  alb_deletion_protection = var.alb_deletion_protection
  desired_count           = var.desired_count
  task_cpu                = var.task_cpu
  task_memory             = var.task_memory
  log_retention_days      = var.log_retention_days
  csrf_secret_version     = var.csrf_secret_version
}
