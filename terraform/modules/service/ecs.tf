resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = local.tags
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

# One family per color. Terraform writes the first revision; the console deploys a release by
# registering a new revision with only the image changed.
resource "aws_ecs_task_definition" "color" {
  for_each = local.colors

  family                   = "${var.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.task_cpu
  memory                   = var.task_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  # A changed definition adds a revision and leaves the old one registered: a color may still run
  # it, and ECS's circuit breaker may roll back to it.
  skip_destroy = true

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  container_definitions = jsonencode([
    {
      name      = local.container_name
      image     = "${data.aws_ecr_repository.blog.repository_url}:${var.image_tag}"
      essential = true

      # The image's nonroot user; the root filesystem is read-only (the blog writes nothing locally
      # with the DynamoDB store).
      user                   = "65532:65532"
      readonlyRootFilesystem = true
      linuxParameters = {
        capabilities = { drop = ["ALL"] }
      }

      portMappings = [
        { containerPort = var.container_port, protocol = "tcp" },
      ]

      environment = [
        { name = "BLOG_STORE", value = "dynamodb:${var.table_name}" },
        { name = "BLOG_LOG_FORMAT", value = "json" },
        { name = "BLOG_COLOR", value = each.key },
        { name = "PORT", value = tostring(var.container_port) },
        { name = "AWS_REGION", value = var.region },
        { name = "BLOG_AUTHORS_TABLE", value = var.authors_table_name },
      ]

      secrets = [
        { name = "BLOG_CSRF_SECRET", valueFrom = aws_ssm_parameter.csrf_secret.arn },
        { name = "BLOG_SESSION_SECRET", valueFrom = aws_ssm_parameter.session_secret.arn },
      ]

      # The image has no shell and no curl: the blog binary checks its own /health.
      healthCheck = {
        command     = ["CMD", "/usr/local/bin/blog", "healthcheck"]
        interval    = 10
        timeout     = 5
        retries     = 3
        startPeriod = 10
      }

      logConfiguration = {
        logDriver = "awslogs"
        options = {
          "awslogs-group"         = aws_cloudwatch_log_group.tasks.name
          "awslogs-region"        = var.region
          "awslogs-stream-prefix" = local.log_stream_prefix[each.key]
        }
      }

      # Room for in-flight requests after SIGTERM; the target has already drained by then.
      stopTimeout = 30
    },
  ])

  tags = merge(local.tags, { "bluegreen:color" = each.key })
}

resource "aws_ecs_service" "color" {
  for_each = local.colors

  name                               = "${var.name}-${each.key}"
  cluster                            = aws_ecs_cluster.this.id
  task_definition                    = aws_ecs_task_definition.color[each.key].arn
  desired_count                      = each.key == local.initial_stable ? var.desired_count : 0
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST"
  health_check_grace_period_seconds  = 30
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"
  enable_execute_command             = false

  # A revision that never gets healthy is rolled back by ECS instead of cycling tasks forever.
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.task_subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = var.assign_public_ip
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.color[each.key].arn
    container_name   = local.container_name
    container_port   = var.container_port
  }

  tags = merge(local.tags, { "bluegreen:color" = each.key })

  # ECS accepts a target group only once a listener uses it.
  depends_on = [aws_lb_listener.prod, aws_lb_listener.test, aws_iam_role_policy.execution]

  lifecycle {
    # The console deploys (new task definition revisions) and scales the colors at run time; an
    # apply must not put an old image back or scale a color it did not start.
    ignore_changes = [task_definition, desired_count]
  }
}
