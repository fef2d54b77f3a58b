# Read by `bluegreen init --from-terraform` together with the base state's outputs.

output "region" {
  description = "AWS region of the stack."
  value       = module.service.region
}

output "cluster_name" {
  description = "ECS cluster running both colors."
  value       = module.service.cluster_name
}

output "log_group_name" {
  description = "Log group of both colors' tasks."
  value       = module.service.log_group_name
}

output "load_balancer_arn" {
  description = "The application load balancer."
  value       = module.service.load_balancer_arn
}

output "blue_service_name" {
  description = "ECS service of the blue color."
  value       = module.service.blue_service_name
}

output "green_service_name" {
  description = "ECS service of the green color."
  value       = module.service.green_service_name
}

output "blue_task_family" {
  description = "Task definition family of the blue color."
  value       = module.service.blue_task_family
}

output "green_task_family" {
  description = "Task definition family of the green color."
  value       = module.service.green_task_family
}

output "blue_target_group_arn" {
  description = "Target group of the blue color."
  value       = module.service.blue_target_group_arn
}

output "green_target_group_arn" {
  description = "Target group of the green color."
  value       = module.service.green_target_group_arn
}

output "blue_log_stream_prefix" {
  description = "awslogs stream prefix of the blue tasks."
  value       = module.service.blue_log_stream_prefix
}

output "green_log_stream_prefix" {
  description = "awslogs stream prefix of the green tasks."
  value       = module.service.green_log_stream_prefix
}

output "prod_listener_arn" {
  description = "Production listener (weighted forward, bluegreen:stable tag)."
  value       = module.service.prod_listener_arn
}

output "test_listener_arn" {
  description = "Test listener (the idle color)."
  value       = module.service.test_listener_arn
}

output "prod_url" {
  description = "URL of the production listener."
  value       = module.service.prod_url
}

output "test_url" {
  description = "URL of the test listener."
  value       = module.service.test_url
}

output "operator_policy_arn" {
  description = "IAM policy to attach to the release engineers who run bluegreen."
  value       = module.service.operator_policy_arn
}
