variable "name" {
  description = "Name of the service, its task family and its roles (for example `livestack-gateway`)"
  type        = string
  nullable    = false
}

variable "region" {
  description = "Region where the resources are managed. Defaults to the Region set in the provider configuration"
  type        = string
  default     = null
}

variable "tags" {
  description = "A map of tags to add to all resources"
  type        = map(string)
  default     = {}
  nullable    = false
}

################################################################################
# Placement
################################################################################

variable "cluster_arn" {
  description = "ARN of the ECS cluster the service runs in"
  type        = string
  nullable    = false
}

variable "cluster_name" {
  description = "Name of the ECS cluster (autoscaling addresses the service by it)"
  type        = string
  nullable    = false
}

variable "subnet_ids" {
  description = "Private subnets the tasks run in"
  type        = list(string)
  nullable    = false
}

variable "security_group_ids" {
  description = "Security groups of the tasks"
  type        = list(string)
  nullable    = false
}

variable "capacity_provider_strategy" {
  description = "Capacity providers of the service, with their base and weight (for example a FARGATE base and FARGATE_SPOT for the rest)"
  type = list(object({
    capacity_provider = string
    base              = optional(number, 0)
    weight            = optional(number, 1)
  }))
  default  = [{ capacity_provider = "FARGATE", base = 1, weight = 1 }]
  nullable = false

  validation {
    condition     = length(var.capacity_provider_strategy) > 0 && alltrue([for strategy in var.capacity_provider_strategy : contains(["FARGATE", "FARGATE_SPOT"], strategy.capacity_provider)])
    error_message = "capacity_provider_strategy must list FARGATE and/or FARGATE_SPOT."
  }
}

################################################################################
# Task
################################################################################

variable "image" {
  description = "Container image of the service"
  type        = string
  nullable    = false
}

variable "repository_arn" {
  description = "ARN of the ECR repository the image is pulled from"
  type        = string
  nullable    = false
}

variable "cpu" {
  description = "CPU units of a task"
  type        = number
  default     = 1024
  nullable    = false
}

variable "memory" {
  description = "Memory of a task, in MiB"
  type        = number
  default     = 2048
  nullable    = false
}

variable "cpu_architecture" {
  description = "CPU architecture of the image: `X86_64` or `ARM64`"
  type        = string
  default     = "X86_64"
  nullable    = false

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "container_name" {
  description = "Name of the container in the task"
  type        = string
  nullable    = false
}

variable "port_mappings" {
  description = "Container ports, by name (for example `rtmp = 1935`, `http = 8080`)"
  type        = map(number)
  nullable    = false
}

variable "environment" {
  description = "Environment variables of the container"
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "stop_timeout" {
  description = "Seconds between SIGTERM and SIGKILL when a task stops (Fargate allows up to 120)"
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.stop_timeout >= 2 && var.stop_timeout <= 120
    error_message = "stop_timeout must be between 2 and 120 seconds."
  }
}

variable "log_group_name" {
  description = "Name of the log group the container writes to"
  type        = string
  nullable    = false
}

variable "log_group_arn" {
  description = "ARN of the log group the container writes to"
  type        = string
  nullable    = false
}

variable "task_role_policy_json" {
  description = "IAM policy document (JSON) of what the task itself may do; build it with `aws_iam_policy_document`, explicit actions and resources"
  type        = string
  nullable    = false
}

################################################################################
# Service
################################################################################

variable "load_balancers" {
  description = "Target groups the service registers its tasks in, with the container port each sends traffic to"
  type = list(object({
    target_group_arn = string
    container_port   = number
  }))
  default  = []
  nullable = false
}

variable "health_check_grace_period_seconds" {
  description = "Seconds load balancer health checks are ignored after a task starts"
  type        = number
  default     = 30
  nullable    = false
}

variable "desired_count" {
  description = "Tasks at creation; autoscaling owns the count afterwards"
  type        = number
  default     = 2
  nullable    = false
}

################################################################################
# Autoscaling
################################################################################

variable "min_capacity" {
  description = "Fewest tasks autoscaling keeps"
  type        = number
  default     = 2
  nullable    = false
}

variable "max_capacity" {
  description = "Most tasks autoscaling starts"
  type        = number
  default     = 10
  nullable    = false
}

variable "cpu_target_utilization" {
  description = "Average CPU utilization (percent) target tracking keeps the service at"
  type        = number
  default     = 50
  nullable    = false

  validation {
    condition     = var.cpu_target_utilization >= 10 && var.cpu_target_utilization <= 90
    error_message = "cpu_target_utilization must be between 10 and 90."
  }
}

variable "request_count_target" {
  description = "ALB requests per target per minute that target tracking keeps; null scales on CPU only. Needs `request_count_resource_label`"
  type        = number
  default     = null
}

variable "request_count_resource_label" {
  description = "ALB resource label (`app/LB/ID/targetgroup/TG/ID`) for request-count scaling"
  type        = string
  default     = null
}

variable "scale_in_cooldown" {
  description = "Seconds after a scale-in before the next one. Long for the gateway, whose tasks hold publishers"
  type        = number
  default     = 300
  nullable    = false
}

variable "scale_out_cooldown" {
  description = "Seconds after a scale-out before the next one"
  type        = number
  default     = 60
  nullable    = false
}
