data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
}

# A customer-managed key with yearly rotation. Services that encrypt through their caller (DynamoDB,
# ECR, CodeBuild, SSM) need nothing here: the caller's IAM policy grants it the key. Only CloudWatch
# Logs encrypts as itself, so only it is named in the key policy.
resource "aws_kms_key" "this" {
  description             = var.purpose
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.this.json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.alias}"
  target_key_id = aws_kms_key.this.key_id
}

data "aws_iam_policy_document" "this" {
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" means this key only; administration stays with the account's IAM.
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" means this key only; writes are limited by IAM policies.
  #checkov:skip=CKV_AWS_356:A key policy's Resource "*" means this key only.
  statement {
    sid       = "AccountAdministersTheKey"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # CloudWatch Logs encrypts the named log groups with this key; the condition keeps it to them.
  dynamic "statement" {
    for_each = length(var.log_group_names) == 0 ? [] : [var.log_group_names]

    content {
      sid       = "LogsEncryptTheNamedLogGroups"
      actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
      resources = ["*"]

      principals {
        type        = "Service"
        identifiers = ["logs.${var.region}.amazonaws.com"]
      }

      condition {
        test     = "ArnEquals"
        variable = "kms:EncryptionContext:aws:logs:arn"
        values   = [for group in statement.value : "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:${group}"]
      }
    }
  }
}
