output "key_arn" {
  description = "ARN of the key; what resources name in kms_key_id, kms_key_arn or encryption_key, and IAM policies in their resources."
  value       = aws_kms_key.this.arn
}

output "key_id" {
  description = "Key ID (the UUID) of the key."
  value       = aws_kms_key.this.key_id
}

output "alias_name" {
  description = "The key's alias, alias/<alias>."
  value       = aws_kms_alias.this.name
}
