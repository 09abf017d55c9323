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
# Log groups
################################################################################

variable "log_group_names" {
  description = "Log groups to create, by key (for example `gateway = \"/ecs/livestack/gateway\"`). Created here so that every group has a retention before the first task or function writes to it"
  type        = map(string)
  nullable    = false
}

variable "log_retention_days" {
  description = "Retention of every log group, in days (one of the values CloudWatch Logs accepts)"
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653)."
  }
}

variable "log_kms_key_arn" {
  description = "ARN of a KMS key to encrypt the log groups with. Null uses CloudWatch Logs' own encryption"
  type        = string
  default     = null
}

################################################################################
# Alarm targets
################################################################################

variable "alarm_email_addresses" {
  description = "Email addresses subscribed to the alarm topic (each must confirm the subscription)"
  type        = list(string)
  default     = []
  nullable    = false
}

variable "ecs_cluster_arn" {
  description = "ARN of the ECS cluster whose task failures are counted"
  type        = string
  nullable    = false
}

variable "ecs_cluster_name" {
  description = "Name of the ECS cluster (dashboard and service alarms)"
  type        = string
  nullable    = false
}

variable "ecs_service_names" {
  description = "Long-running ECS services by key (`gateway`, `edge`); an alarm fires when one has no running task"
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "alb_arn_suffix" {
  description = "ARN suffix of the playback ALB (`app/NAME/ID`), for the 5xx alarms"
  type        = string
  nullable    = false
}

variable "nlb_arn_suffix" {
  description = "ARN suffix of the ingest NLB (`net/NAME/ID`)"
  type        = string
  nullable    = false
}

variable "nlb_target_group_arn_suffix" {
  description = "ARN suffix of the ingest NLB target group, for the unhealthy-gateway alarm"
  type        = string
  nullable    = false
}

variable "api_gateway_name" {
  description = "Name of the REST API, for the 5xx alarm"
  type        = string
  nullable    = false
}

variable "api_gateway_stage_name" {
  description = "Stage of the REST API, for the 5xx alarm"
  type        = string
  nullable    = false
}

variable "lambda_function_names" {
  description = "Lambda functions by key (`api`, `ingestauth`, `scheduler`); each gets an errors alarm"
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "dlq_queue_name" {
  description = "Name of the event dead-letter queue; an alarm fires as soon as it holds a message"
  type        = string
  nullable    = false
}

variable "dynamodb_table_name" {
  description = "Name of the metadata table (dashboard and throttling alarm)"
  type        = string
  nullable    = false
}

################################################################################
# Thresholds
################################################################################

variable "alarm_thresholds" {
  description = "Alarm thresholds: 5xx responses per 5 minutes at the ALB and API, Lambda errors per 5 minutes, failed ECS tasks per 5 minutes, throttled DynamoDB requests per 5 minutes"
  type = object({
    alb_5xx            = optional(number, 10)
    api_5xx            = optional(number, 5)
    lambda_errors      = optional(number, 1)
    task_failures      = optional(number, 3)
    dynamodb_throttles = optional(number, 10)
  })
  default  = {}
  nullable = false
}
