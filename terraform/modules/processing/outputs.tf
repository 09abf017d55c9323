output "cluster_arn" {
  description = "ARN of the ECS cluster (gateway, edge and workers)"
  value       = aws_ecs_cluster.this.arn
}

output "cluster_name" {
  description = "Name of the ECS cluster"
  value       = aws_ecs_cluster.this.name
}

output "worker_task_definition_arns" {
  description = "ARNs (with revision) of the worker task definitions, by size"
  value       = { for size, task in aws_ecs_task_definition.worker : size => task.arn }
}

output "worker_task_definition_families" {
  description = "Families of the worker task definitions, by size"
  value       = { for size, task in aws_ecs_task_definition.worker : size => task.family }
}

output "worker_task_role_arn" {
  description = "ARN of the worker task role (the scheduler passes it on RunTask)"
  value       = aws_iam_role.worker_task.arn
}

output "worker_execution_role_arn" {
  description = "ARN of the worker execution role (the scheduler passes it on RunTask)"
  value       = aws_iam_role.worker_execution.arn
}

output "worker_security_group_id" {
  description = "ID of the worker security group"
  value       = aws_security_group.worker.id
}

output "worker_subnet_ids" {
  description = "Subnets workers are started in"
  value       = var.subnet_ids
}

output "worker_capacity_provider" {
  description = "Capacity provider workers are started on"
  value       = var.worker_capacity_provider
}

output "record_task_size" {
  description = "Task size for channels without transcoding"
  value       = var.record_task_size
}

output "transcode_task_size" {
  description = "Task size for channels with transcoding or a watermark"
  value       = var.transcode_task_size
}
