data "aws_caller_identity" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id

  codebuild_log_group = "/aws/codebuild/${var.codebuild_project_name}"

  tags = merge(var.tags, { "bluegreen:stack" = var.name })
}

# One customer-managed key for the data this module owns: the table, the image layers, the build
# cache and artifacts, and the build logs. CloudWatch Logs may use it for the build log group only.
module "kms" {
  source = "../kms"

  alias           = "${var.name}-base"
  purpose         = "${var.name}: posts table, image repository, build cache and build logs"
  region          = var.region
  log_group_names = [local.codebuild_log_group]
  tags            = local.tags
}

# The key and its alias were resources of this module before the kms module held them.
moved {
  from = aws_kms_key.base
  to   = module.kms.aws_kms_key.this
}

moved {
  from = aws_kms_alias.base
  to   = module.kms.aws_kms_alias.this
}
