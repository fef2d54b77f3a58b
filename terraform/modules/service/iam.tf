data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# The execution role is used by the ECS agent, not by the blog: it pulls the image, writes the log
# streams and reads the CSRF and session secrets into the container's environment.
resource "aws_iam_role" "execution" {
  name               = "${var.name}-task-execution"
  description        = "ECS agent for ${var.name}: pull the image, write logs, read the blog's secrets"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "execution" {
  # GetAuthorizationToken has no resource-level permissions: AWS only accepts "*" for it.
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "PullTheBlogImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = [data.aws_ecr_repository.blog.arn]
  }

  statement {
    sid       = "WriteTaskLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.tasks.arn}:*"]
  }

  statement {
    sid       = "ReadTheBlogSecrets"
    actions   = ["ssm:GetParameters"]
    resources = [aws_ssm_parameter.csrf_secret.arn, aws_ssm_parameter.session_secret.arn]
  }

  statement {
    sid       = "DecryptTheCsrfSecret"
    actions   = ["kms:Decrypt"]
    resources = [module.kms.key_arn]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "pull-log-secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# The blog's own identity. The seed granted AmazonDynamoDBFullAccess; the serving blog makes only
# these calls, on the posts table, its two indexes (Query only) and the authors table (a test
# derives them from the blog's store).
# Scan is left out: the listing queries ByTimestamp, and the one-off `blog migrate` runs with the
# operator's credentials, not the task's.
resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  description        = "The ${var.name} blog: read and write posts in ${var.table_name}"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "task" {
  statement {
    sid = "PostsTable"
    actions = [
      "dynamodb:DeleteItem",
      "dynamodb:DescribeTable",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:UpdateItem",
    ]
    resources = [data.aws_dynamodb_table.posts.arn]
  }

  # The listing reads ByTimestamp and /authors/NAME reads ByAuthor; an index only answers Query.
  statement {
    sid     = "PostsIndexes"
    actions = ["dynamodb:Query"]
    resources = [
      "${data.aws_dynamodb_table.posts.arn}/index/ByAuthor",
      "${data.aws_dynamodb_table.posts.arn}/index/ByTimestamp",
    ]
  }

  # Signing in reads an account; signing out everywhere bumps its session epoch. Adding, listing
  # and removing accounts is `blog user …`, run with an operator's credentials.
  statement {
    sid       = "AuthorsTable"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [data.aws_dynamodb_table.authors.arn]
  }

  # A table encrypted with a customer-managed key needs the caller to be allowed to use the key, and
  # only through DynamoDB.
  dynamic "statement" {
    for_each = local.table_kms_key_arn == null || local.table_kms_key_arn == "" ? [] : [local.table_kms_key_arn]

    content {
      sid       = "TableKeyViaDynamoDB"
      actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["dynamodb.${var.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "posts-table"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}
