# These names are an interface: `bluegreen init --from-terraform` reads them, with the base state's,
# to write a console profile (docs/architecture.md lists them under "Terraform output names"; the
# console keeps them as REQUIRED and OPTIONAL in console/src/config/terraform.rs). Renaming or
# dropping one breaks that import, and the delivery_terraform tests fail.
output "region" {
  description = "AWS region of the stack."
  value       = var.region
}

output "cluster_name" {
  description = "ECS cluster running both colors."
  value       = aws_ecs_cluster.this.name
}

output "log_group_name" {
  description = "Log group of both colors' tasks."
  value       = aws_cloudwatch_log_group.tasks.name
}

output "load_balancer_arn" {
  description = "The application load balancer."
  value       = aws_lb.this.arn
}

output "load_balancer_dns_name" {
  description = "DNS name of the load balancer."
  value       = aws_lb.this.dns_name
}

output "blue_service_name" {
  description = "ECS service of the blue color."
  value       = aws_ecs_service.color["blue"].name
}

output "green_service_name" {
  description = "ECS service of the green color."
  value       = aws_ecs_service.color["green"].name
}

output "blue_task_family" {
  description = "Task definition family of the blue color."
  value       = aws_ecs_task_definition.color["blue"].family
}

output "green_task_family" {
  description = "Task definition family of the green color."
  value       = aws_ecs_task_definition.color["green"].family
}

output "blue_target_group_arn" {
  description = "Target group of the blue color."
  value       = aws_lb_target_group.color["blue"].arn
}

output "green_target_group_arn" {
  description = "Target group of the green color."
  value       = aws_lb_target_group.color["green"].arn
}

output "blue_log_stream_prefix" {
  description = "awslogs stream prefix of the blue tasks (streams are blue/blog/<task-id>)."
  value       = local.log_stream_prefix["blue"]
}

output "green_log_stream_prefix" {
  description = "awslogs stream prefix of the green tasks (streams are green/blog/<task-id>)."
  value       = local.log_stream_prefix["green"]
}

output "prod_listener_arn" {
  description = "Production listener with the weighted forward and the bluegreen:stable tag."
  value       = aws_lb_listener.prod.arn
}

output "test_listener_arn" {
  description = "Test listener serving the idle color."
  value       = aws_lb_listener.test.arn
}

output "prod_url" {
  description = "URL of the production listener."
  value       = "${lower(local.listener_proto)}://${aws_lb.this.dns_name}:${local.prod_listener_port}/"
}

output "test_url" {
  description = "URL of the test listener (the idle color)."
  value       = "${lower(local.listener_proto)}://${aws_lb.this.dns_name}:${var.test_listener_port}/"
}

output "operator_policy_arn" {
  description = "IAM policy to attach to the release engineers who run bluegreen."
  value       = aws_iam_policy.operator.arn
}
