# Read by `bluegreen init --from-terraform` together with the service state's outputs.
output "region" {
  description = "AWS region of the stack."
  value       = var.region
}

output "authors_table_name" {
  description = "DynamoDB table holding the author accounts."
  value       = module.base.authors_table_name
}

output "table_name" {
  description = "DynamoDB table holding the posts."
  value       = module.base.table_name
}

output "ecr_repository_name" {
  description = "ECR repository the build pushes to."
  value       = module.base.ecr_repository_name
}

output "ecr_repository_url" {
  description = "Registry URL of the repository (for docker pull)."
  value       = module.base.ecr_repository_url
}

output "codebuild_project_name" {
  description = "CodeBuild project that builds the image."
  value       = module.base.codebuild_project_name
}

output "journal_table_name" {
  description = "DynamoDB table of the console's journal (the profile's journal_table)."
  value       = module.base.journal_table_name
}

output "lock_table_name" {
  description = "DynamoDB table of the deploy lock (the console profile's lock_table)."
  value       = module.base.lock_table_name
}
