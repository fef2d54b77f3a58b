variable "environment" {
  description = "Environment name, tagged on every resource."
  type        = string
  default     = "dev"
}

variable "name" {
  description = "Stack name; prefixes the resources (3-24 lower-case letters, digits, hyphens)."
  type        = string
}

variable "region" {
  description = "AWS region."
  type        = string
}

variable "authors_table_name" {
  description = "Name of the DynamoDB table holding the blog's author accounts."
  type        = string
  default     = "BlogAuthors"
}

variable "table_name" {
  description = "DynamoDB table holding the posts."
  type        = string
  default     = "BlogPosts"
}

variable "table_deletion_protection" {
  description = "Refuse to delete the posts table."
  type        = bool
  default     = true
}

variable "ecr_repository_name" {
  description = "ECR repository of the blog image."
  type        = string
}

variable "codebuild_project_name" {
  description = "CodeBuild project that builds the image."
  type        = string
}

variable "source_type" {
  description = "CodeBuild source type (GITHUB, GITHUB_ENTERPRISE, BITBUCKET, CODECOMMIT)."
  type        = string
  default     = "GITHUB"
}

variable "source_location" {
  description = "Clone URL of this repository (Dockerfile and buildspec.yaml at its root)."
  type        = string
}

variable "source_branch" {
  description = "Ref built when a build names no source version."
  type        = string
  default     = "main"
}

variable "log_retention_days" {
  description = "Retention of the build logs, in days."
  type        = number
  default     = 365
}
