variable "name" {
  description = "Name of the stack; names the cluster, the services (<name>-blue, <name>-green), the load balancer and the log group (/ecs/<name>)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name))
    error_message = "name must be 3-24 characters of lower-case letters, digits and hyphens, starting with a letter (target group names add \"-green\" and must stay within 32)."
  }
}

variable "region" {
  description = "AWS region the stack lives in."
  type        = string
}

variable "authors_table_name" {
  description = "DynamoDB table of the author accounts (the base stack's authors_table_name output)."
  type        = string
  default     = "BlogAuthors"
}

variable "table_name" {
  description = "DynamoDB table of the base stack (its table_name output)."
  type        = string
}

variable "journal_table_name" {
  description = "DynamoDB table of the console's journal (the base stack's journal_table_name output), which the operator policy may append to and query."
  type        = string
}

variable "lock_table_name" {
  description = "DynamoDB table of the deploy lock (the base stack's lock_table_name output); by default <name>-locks, as the base module names it."
  type        = string
  default     = null
}

variable "ecr_repository_name" {
  description = "ECR repository of the base stack (its ecr_repository_name output)."
  type        = string
}

variable "image_tag" {
  description = "Image tag both colors start from (the short SHA of the first build). Later releases are deployed by the console, not by Terraform."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag)) && var.image_tag != "latest"
    error_message = "image_tag must be a valid, immutable image tag such as the build's short SHA (not \"latest\")."
  }
}

variable "vpc_id" {
  description = "VPC of the load balancer and the tasks."
  type        = string
}

variable "alb_subnet_ids" {
  description = "Subnets of the load balancer (at least two availability zones; public for an internet-facing ALB)."
  type        = list(string)

  validation {
    condition     = length(var.alb_subnet_ids) >= 2
    error_message = "An application load balancer needs subnets in at least two availability zones."
  }
}

variable "task_subnet_ids" {
  description = "Subnets of the tasks. Private subnets need a NAT gateway or VPC endpoints for ECR, S3, CloudWatch Logs, SSM and DynamoDB."
  type        = list(string)
}

variable "assign_public_ip" {
  description = "Give tasks public IPs. Only for subnets without NAT (the default VPC); the tasks' security group still admits only the load balancer."
  type        = bool
  default     = false
}

variable "internal_alb" {
  description = "Make the load balancer internal (reachable only inside the VPC)."
  type        = bool
  default     = false
}

variable "container_port" {
  description = "Port the blog listens on inside the container."
  type        = number
  default     = 5000
}

variable "prod_listener_port" {
  description = "Port of the production listener. Null picks 443 with a certificate and 80 without; with a certificate, port 80 answers with the redirect to HTTPS and cannot be the listener's."
  type        = number
  default     = null

  validation {
    condition     = var.prod_listener_port == null || var.certificate_arn == null || var.prod_listener_port != 80
    error_message = "With a certificate, port 80 redirects to HTTPS: serve the production listener on another port (leave prod_listener_port null for 443)."
  }
}

variable "test_listener_port" {
  description = "Port of the test listener, which serves the idle color for smoke tests."
  type        = number
  default     = 8080

  validation {
    condition     = var.test_listener_port != coalesce(var.prod_listener_port, var.certificate_arn == null ? 80 : 443) && (var.certificate_arn == null || var.test_listener_port != 80)
    error_message = "The test listener needs its own port, different from the production listener's (and, with a certificate, from port 80, which redirects to HTTPS)."
  }
}

variable "prod_ingress_cidrs" {
  description = "IPv4 ranges allowed to reach the production listener."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "test_ingress_cidrs" {
  description = "IPv4 ranges allowed to reach the test listener (the release engineers' networks). Empty closes it from outside the VPC."
  type        = list(string)
  default     = []
}

variable "certificate_arn" {
  description = "ACM certificate of the HTTPS listeners. With it, production and test listeners serve HTTPS and port 80 answers with a permanent redirect to the production listener; null serves plain HTTP on both and adds no redirect."
  type        = string
  default     = null
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listeners: TLS 1.3 and 1.2 with forward-secret AEAD ciphers only by default."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"

  validation {
    condition     = startswith(var.ssl_policy, "ELBSecurityPolicy-TLS13-")
    error_message = "Use a TLS 1.3 policy (ELBSecurityPolicy-TLS13-…); the older policies still accept TLS 1.0 or weak ciphers."
  }
}

variable "access_logs_bucket" {
  description = "S3 bucket for the load balancer's access logs (it needs the ELB log delivery bucket policy). Null disables them."
  type        = string
  default     = null
}

variable "alb_deletion_protection" {
  description = "Refuse to delete the load balancer."
  type        = bool
  default     = true
}

variable "desired_count" {
  description = "Tasks of the live color. The idle color starts at 0; the console scales it when it deploys."
  type        = number
  default     = 2
}

variable "task_cpu" {
  description = "Fargate task CPU units."
  type        = number
  default     = 256
}

variable "task_memory" {
  description = "Fargate task memory in MiB."
  type        = number
  default     = 512
}

variable "cpu_architecture" {
  description = "X86_64 or ARM64; must match the image the buildspec builds."
  type        = string
  default     = "X86_64"
}

variable "deregistration_delay_seconds" {
  description = "How long a target drains before its task is stopped. The blog's requests are short, so a short delay speeds releases."
  type        = number
  default     = 15
}

variable "health_check_interval_seconds" {
  description = "Target group health check interval."
  type        = number
  default     = 10
}

variable "log_retention_days" {
  description = "Retention of the task log group /ecs/<name>, in days."
  type        = number
  default     = 365
}

variable "session_secret_version" {
  description = "Bump to rotate the session-signing secret shared by both colors (every author is signed out)."
  type        = number
  default     = 1
}

variable "csrf_secret_version" {
  description = "Bump to rotate the CSRF secret shared by both colors (forms open during the rotation must be resubmitted)."
  type        = number
  default     = 1
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "codebuild_project_name" {
  description = "CodeBuild project of the base stack (its codebuild_project_name output); the operator policy lets release engineers start and read its builds."
  type        = string
}
