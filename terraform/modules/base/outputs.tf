output "table_name" {
  description = "DynamoDB table holding the posts."
  value       = aws_dynamodb_table.posts.name
}

output "authors_table_name" {
  description = "DynamoDB table holding the author accounts."
  value       = aws_dynamodb_table.authors.name
}

output "table_arn" {
  description = "ARN of the posts table."
  value       = aws_dynamodb_table.posts.arn
}

output "ecr_repository_name" {
  description = "ECR repository the build pushes to."
  value       = aws_ecr_repository.blog.name
}

output "ecr_repository_url" {
  description = "Registry URL of the repository, without a tag."
  value       = aws_ecr_repository.blog.repository_url
}

output "codebuild_project_name" {
  description = "CodeBuild project that builds the image."
  value       = aws_codebuild_project.blog.name
}

output "kms_key_arn" {
  description = "Key encrypting the table, the images and the build logs."
  value       = module.kms.key_arn
}

output "journal_table_name" {
  description = "DynamoDB table of the console's journal (the profile's journal_table)."
  value       = aws_dynamodb_table.journal.name
}

output "lock_table_name" {
  description = "DynamoDB table of the deploy lock (the console profile's lock_table)."
  value       = aws_dynamodb_table.locks.name
}
