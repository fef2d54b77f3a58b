data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

# The base stack is a separate state: read its table and repository by name.
data "aws_dynamodb_table" "posts" {
  name = var.table_name
}

data "aws_dynamodb_table" "authors" {
  name = var.authors_table_name
}

data "aws_ecr_repository" "blog" {
  name = var.ecr_repository_name
}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # Each color is one ECS service, one task definition family and one target group.
  colors = toset(["blue", "green"])

  # The color that starts with all production traffic; the other starts idle at 0 tasks.
  initial_stable = "blue"

  # awslogs streams are <prefix>/blog/<task-id>; the console finds a color's streams by prefix.
  log_stream_prefix = { for c in local.colors : c => c }

  container_name = "blog"
  log_group_name = "/ecs/${var.name}"
  https          = var.certificate_arn != null
  listener_proto = local.https ? "HTTPS" : "HTTP"
  # 443 with a certificate (port 80 then redirects to it), 80 without.
  prod_listener_port = coalesce(var.prod_listener_port, local.https ? 443 : 80)

  # Null when the table uses an AWS-owned key; then the task role needs no key permission.
  table_kms_key_arn = try(data.aws_dynamodb_table.posts.server_side_encryption[0].kms_key_arn, null)

  tags = merge(var.tags, { "bluegreen:stack" = var.name })
}

# Encrypts the task logs and the CSRF secret. CloudWatch Logs may use it for the task log group only.
module "kms" {
  source = "../kms"

  alias           = "${var.name}-service"
  purpose         = "${var.name}: task logs and the blog's CSRF secret"
  region          = var.region
  log_group_names = [local.log_group_name]
  tags            = local.tags
}

# The key and its alias were resources of this module before the kms module held them.
moved {
  from = aws_kms_key.service
  to   = module.kms.aws_kms_key.this
}

moved {
  from = aws_kms_alias.service
  to   = module.kms.aws_kms_alias.this
}

# One group for both colors; the awslogs stream prefix (blue/..., green/...) tells them apart.
resource "aws_cloudwatch_log_group" "tasks" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = module.kms.key_arn
  tags              = local.tags
}

# Both colors sign and check CSRF tokens with this one secret, so a form served by blue validates
# when it is posted to green in the middle of a shift. The value is generated at apply time and
# written write-only: it never lands in the Terraform state.
ephemeral "random_password" "csrf_secret" {
  length  = 48
  special = false
}

resource "aws_ssm_parameter" "csrf_secret" {
  name             = "/${var.name}/blog/csrf-secret"
  description      = "CSRF signing secret shared by the ${var.name} blue and green tasks"
  type             = "SecureString"
  key_id           = module.kms.key_arn
  value_wo         = ephemeral.random_password.csrf_secret.result
  value_wo_version = var.csrf_secret_version
  tags             = local.tags
}

# Both colors sign and check session cookies with this one secret, so an author signed in on blue
# stays signed in when the next request lands on green. Generated at apply time, write-only.
ephemeral "random_password" "session_secret" {
  length  = 48
  special = false
}

resource "aws_ssm_parameter" "session_secret" {
  name             = "/${var.name}/blog/session-secret"
  description      = "Session-signing secret shared by the ${var.name} blue and green tasks"
  type             = "SecureString"
  key_id           = module.kms.key_arn
  value_wo         = ephemeral.random_password.session_secret.result
  value_wo_version = var.session_secret_version
  tags             = local.tags
}
