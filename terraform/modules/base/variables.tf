variable "name" {
  description = "Name of the stack; prefixes every resource (for example \"blog\")."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name))
    error_message = "name must be 3-24 characters of lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "region" {
  description = "AWS region the stack lives in."
  type        = string
}

variable "table_name" {
  description = "Name of the DynamoDB table holding the posts."
  type        = string
  default     = "BlogPosts"
}

variable "authors_table_name" {
  description = "Name of the DynamoDB table holding the blog's author accounts."
  type        = string
  default     = "BlogAuthors"
}

variable "table_billing_mode" {
  description = "PAY_PER_REQUEST, or PROVISIONED with table_read_capacity / table_write_capacity."
  type        = string
  default     = "PAY_PER_REQUEST"

  validation {
    condition     = contains(["PAY_PER_REQUEST", "PROVISIONED"], var.table_billing_mode)
    error_message = "table_billing_mode must be PAY_PER_REQUEST or PROVISIONED."
  }
}

variable "table_read_capacity" {
  description = "Read capacity units of the table and its index (PROVISIONED only)."
  type        = number
  default     = 5
}

variable "table_write_capacity" {
  description = "Write capacity units of the table and its index (PROVISIONED only)."
  type        = number
  default     = 5
}

variable "table_deletion_protection" {
  description = "Refuse to delete the table (turn off only for throw-away environments)."
  type        = bool
  default     = true
}

variable "ecr_repository_name" {
  description = "Name of the ECR repository the blog image is pushed to."
  type        = string
}

variable "ecr_keep_images" {
  description = "How many tagged images the ECR lifecycle policy keeps. Keep it well above the number of builds between two releases: both colors' images must survive."
  type        = number
  default     = 50
}

variable "ecr_untagged_expiry_days" {
  description = "Days after which untagged images (layers of superseded pushes) expire."
  type        = number
  default     = 7
}

variable "codebuild_project_name" {
  description = "Name of the CodeBuild project that builds and pushes the image."
  type        = string
}

variable "source_type" {
  description = "CodeBuild source type: GITHUB, GITHUB_ENTERPRISE, BITBUCKET or CODECOMMIT."
  type        = string
  default     = "GITHUB"
}

variable "source_location" {
  description = "Clone URL of the repository holding Dockerfile and buildspec.yaml."
  type        = string
}

variable "source_branch" {
  description = "Branch (or other ref) built when a build names no source version."
  type        = string
  default     = "main"
}

variable "codebuild_compute_type" {
  description = "CodeBuild compute type. A release build of the blog takes about 6 minutes on BUILD_GENERAL1_MEDIUM."
  type        = string
  default     = "BUILD_GENERAL1_MEDIUM"
}

variable "codebuild_image" {
  description = "CodeBuild build image; it needs Docker (privileged mode)."
  type        = string
  default     = "aws/codebuild/amazonlinux-x86_64-standard:5.0"
}

variable "codebuild_timeout_minutes" {
  description = "Build timeout in minutes."
  type        = number
  default     = 30
}

variable "log_retention_days" {
  description = "Retention of the CodeBuild log group, in days."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
