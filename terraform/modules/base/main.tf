data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  codebuild_log_group = "/aws/codebuild/${var.codebuild_project_name}"

  tags = merge(var.tags, { "bluegreen:stack" = var.name })
}

# One customer-managed key for the data this module owns: the table, the image layers, the build
# cache and artifacts, and the build logs.
resource "aws_kms_key" "base" {
  description             = "${var.name}: posts table, image repository, build cache and build logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.base_key.json
  tags                    = local.tags
}

resource "aws_kms_alias" "base" {
  name          = "alias/${var.name}-base"
  target_key_id = aws_kms_key.base.key_id
}

data "aws_iam_policy_document" "base_key" {
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

  # CloudWatch Logs encrypts the build log group with this key; the condition keeps it to that group.
  statement {
    sid       = "LogsEncryptTheBuildLogGroup"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:${local.codebuild_log_group}"]
    }
  }
}
