variable "name" {
  description = "Name prefix for every resource (for example `livestack`)"
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
# Bus
################################################################################

variable "event_bus_name" {
  description = "Name of the custom event bus for livestack events (`Stream Started`, `Stream Stopped`, `Recording Ready`...)"
  type        = string
  nullable    = false
}

variable "event_source_prefix" {
  description = "Prefix of the `source` of livestack events (for example `livestack.gateway`)"
  type        = string
  default     = "livestack."
  nullable    = false
}

variable "archive_retention_days" {
  description = "Days the bus archive keeps events for replay (0 keeps them forever); null creates no archive"
  type        = number
  default     = 30
}

################################################################################
# Delivery
################################################################################

variable "maximum_retry_attempts" {
  description = "Attempts EventBridge makes to deliver an event to the scheduler before it goes to the dead-letter queue"
  type        = number
  default     = 20
  nullable    = false

  validation {
    condition     = var.maximum_retry_attempts >= 0 && var.maximum_retry_attempts <= 185
    error_message = "maximum_retry_attempts must be between 0 and 185."
  }
}

variable "maximum_event_age_seconds" {
  description = "Age after which an undelivered event goes to the dead-letter queue. Short: a worker started ten minutes late is of no use"
  type        = number
  default     = 300
  nullable    = false

  validation {
    condition     = var.maximum_event_age_seconds >= 60 && var.maximum_event_age_seconds <= 86400
    error_message = "maximum_event_age_seconds must be between 60 and 86400."
  }
}

variable "dlq_message_retention_seconds" {
  description = "How long the dead-letter queue keeps a message"
  type        = number
  default     = 1209600
  nullable    = false
}

################################################################################
# Scheduler function
################################################################################

variable "lambda_zip_path" {
  description = "Path of the `scheduler` zip built by `make lambdas` (a `bootstrap` for provided.al2023, arm64)"
  type        = string
  nullable    = false
}

variable "log_group_name" {
  description = "Name of the scheduler's log group"
  type        = string
  nullable    = false
}

variable "log_group_arn" {
  description = "ARN of the scheduler's log group"
  type        = string
  nullable    = false
}

variable "memory_size" {
  description = "Memory of the scheduler function, in MB"
  type        = number
  default     = 256
  nullable    = false
}

variable "timeout" {
  description = "Timeout of the scheduler function, in seconds"
  type        = number
  default     = 30
  nullable    = false
}

################################################################################
# What the scheduler starts
################################################################################

variable "cluster_arn" {
  description = "ARN of the ECS cluster workers run in"
  type        = string
  nullable    = false
}

variable "cluster_name" {
  description = "Name of the ECS cluster workers run in"
  type        = string
  nullable    = false
}

variable "worker_task_definition_arns" {
  description = "Worker task definition ARNs by size"
  type        = map(string)
  nullable    = false
}

variable "worker_task_definition_families" {
  description = "Worker task definition families by size (RunTask is allowed on every revision of these)"
  type        = map(string)
  nullable    = false
}

variable "worker_task_role_arn" {
  description = "ARN of the worker task role (passed on RunTask)"
  type        = string
  nullable    = false
}

variable "worker_execution_role_arn" {
  description = "ARN of the worker execution role (passed on RunTask)"
  type        = string
  nullable    = false
}

variable "worker_subnet_ids" {
  description = "Subnets workers start in"
  type        = list(string)
  nullable    = false
}

variable "worker_security_group_id" {
  description = "Security group of the workers"
  type        = string
  nullable    = false
}

variable "worker_capacity_provider" {
  description = "Capacity provider workers start on: `FARGATE` or `FARGATE_SPOT`"
  type        = string
  nullable    = false

  validation {
    condition     = contains(["FARGATE", "FARGATE_SPOT"], var.worker_capacity_provider)
    error_message = "worker_capacity_provider must be FARGATE or FARGATE_SPOT."
  }
}

variable "record_task_size" {
  description = "Task size for channels without transcoding"
  type        = string
  nullable    = false

  validation {
    condition     = contains(["micro", "small", "medium", "large", "xlarge"], var.record_task_size)
    error_message = "record_task_size must be one of: micro, small, medium, large, xlarge."
  }
}

variable "transcode_task_size" {
  description = "Task size for channels with transcoding or a watermark"
  type        = string
  nullable    = false

  validation {
    condition     = contains(["micro", "small", "medium", "large", "xlarge"], var.transcode_task_size)
    error_message = "transcode_task_size must be one of: micro, small, medium, large, xlarge."
  }
}

variable "table_name" {
  description = "Name of the metadata table (which worker runs for which stream)"
  type        = string
  nullable    = false
}

variable "table_arn" {
  description = "ARN of the metadata table in this region"
  type        = string
  nullable    = false
}
