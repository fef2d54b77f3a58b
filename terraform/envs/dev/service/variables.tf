variable "environment" {
  description = "Environment name, tagged on every resource."
  type        = string
  default     = "dev"
}

variable "name" {
  description = "Stack name: the cluster, <name>-blue / <name>-green, the load balancer, /ecs/<name>."
  type        = string
}

variable "region" {
  description = "AWS region (the base state's)."
  type        = string
}

variable "authors_table_name" {
  description = "DynamoDB table of the author accounts (the base stack's authors_table_name output)."
  type        = string
  default     = "BlogAuthors"
}

variable "journal_table_name" {
  description = "The base state's journal_table_name output."
  type        = string
}

variable "table_name" {
  description = "The base state's table_name output."
  type        = string
}

variable "ecr_repository_name" {
  description = "The base state's ecr_repository_name output."
  type        = string
}

variable "image_tag" {
  description = "Tag of the first image (the short SHA the first build pushed). Both colors start from it."
  type        = string
}

variable "vpc_id" {
  description = "VPC to use; null uses the default VPC and its default subnets."
  type        = string
  default     = null
}

variable "alb_subnet_ids" {
  description = "Load balancer subnets (two or more AZs); null uses the default subnets."
  type        = list(string)
  default     = null
}

variable "task_subnet_ids" {
  description = "Task subnets; null uses the default subnets."
  type        = list(string)
  default     = null
}

variable "assign_public_ip" {
  description = "Public IPs for tasks: needed in subnets without NAT or VPC endpoints (the default VPC)."
  type        = bool
  default     = false
}

variable "prod_listener_port" {
  description = "Production listener port; null picks 443 with a certificate (port 80 then redirects to it) and 80 without."
  type        = number
  default     = null
}

variable "test_listener_port" {
  description = "Test listener port."
  type        = number
  default     = 8080
}

variable "prod_ingress_cidrs" {
  description = "Who may reach the production listener."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "test_ingress_cidrs" {
  description = "Who may reach the test listener (release engineers' networks)."
  type        = list(string)
  default     = []
}

variable "certificate_arn" {
  description = "ACM certificate for HTTPS (and a 301 from port 80 to it); null serves HTTP."
  type        = string
  default     = null
}

variable "alb_deletion_protection" {
  description = "Refuse to delete the load balancer."
  type        = bool
  default     = true
}

variable "desired_count" {
  description = "Tasks of the live color."
  type        = number
  default     = 2
}

variable "task_cpu" {
  description = "Fargate task CPU units."
  type        = number
  default     = 256
}

variable "task_memory" {
  description = "Fargate task memory, MiB."
  type        = number
  default     = 512
}

variable "log_retention_days" {
  description = "Retention of /ecs/<name>, in days."
  type        = number
  default     = 365
}

variable "codebuild_project_name" {
  description = "The base state's codebuild_project_name output (for the operator policy)."
  type        = string
}

variable "csrf_secret_version" {
  description = "Bump to rotate the CSRF secret both colors share (then restart both colors' tasks)."
  type        = number
  default     = 1
}
