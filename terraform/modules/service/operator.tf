# The release engineers' policy: exactly the calls the console makes (the template
# operator-policy.json in this module, tested against the AWS adapter's list of operations), scoped
# to this stack's resources wherever the action supports resource-level permissions. Attach it to
# the role or group that runs `bluegreen`.
resource "aws_iam_policy" "operator" {
  name        = "${var.name}-bluegreen-operator"
  description = "Run blue/green releases of ${var.name} with the bluegreen console"

  policy = templatefile("${path.module}/operator-policy.json", {
    partition              = local.partition
    region                 = var.region
    account_id             = local.account_id
    codebuild_project_name = var.codebuild_project_name
    ecr_repository_name    = var.ecr_repository_name
    cluster_name           = aws_ecs_cluster.this.name
    blue_service_name      = aws_ecs_service.color["blue"].name
    green_service_name     = aws_ecs_service.color["green"].name
    blue_task_family       = aws_ecs_task_definition.color["blue"].family
    green_task_family      = aws_ecs_task_definition.color["green"].family
    task_role_arn          = aws_iam_role.task.arn
    execution_role_arn     = aws_iam_role.execution.arn
    prod_listener_arn      = aws_lb_listener.prod.arn
    test_listener_arn      = aws_lb_listener.test.arn
    log_group_name         = aws_cloudwatch_log_group.tasks.name
    journal_table_name     = var.journal_table_name
    lock_table_name        = coalesce(var.lock_table_name, "${var.name}-locks")
  })

  tags = local.tags
}
