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
# Cluster
################################################################################

variable "container_insights" {
  description = "CloudWatch Container Insights for the cluster: `enabled`, `enhanced` or `disabled`. The no-running-task alarms need it on"
  type        = string
  default     = "enabled"
  nullable    = false

  validation {
    condition     = contains(["enabled", "enhanced", "disabled"], var.container_insights)
    error_message = "container_insights must be enabled, enhanced or disabled."
  }
}

################################################################################
# Network
################################################################################

variable "vpc_id" {
  description = "ID of the VPC the workers run in"
  type        = string
  nullable    = false
}

variable "subnet_ids" {
  description = "Private subnets the scheduler starts workers in"
  type        = list(string)
  nullable    = false
}

################################################################################
# Worker tasks
################################################################################

variable "worker_image" {
  description = "Container image of the worker (ffmpeg ladder, watermark, snapshots, motion)"
  type        = string
  nullable    = false
}

variable "worker_repository_arn" {
  description = "ARN of the ECR repository the worker image is pulled from"
  type        = string
  nullable    = false
}

variable "worker_log_group_name" {
  description = "Name of the log group the workers write to"
  type        = string
  nullable    = false
}

variable "worker_log_group_arn" {
  description = "ARN of the log group the workers write to"
  type        = string
  nullable    = false
}

variable "worker_task_sizes" {
  description = "Worker task definitions by size (CPU units and MiB), the sizes of the earlier solution: micro 256/512, small 512/1024, medium 1024/2048, large 2048/4096, xlarge 4096/8192"
  type = map(object({
    cpu    = number
    memory = number
  }))
  default = {
    micro  = { cpu = 256, memory = 512 }
    small  = { cpu = 512, memory = 1024 }
    medium = { cpu = 1024, memory = 2048 }
    large  = { cpu = 2048, memory = 4096 }
    xlarge = { cpu = 4096, memory = 8192 }
  }
  nullable = false

  validation {
    condition     = length(var.worker_task_sizes) > 0 && alltrue([for size in keys(var.worker_task_sizes) : contains(["micro", "small", "medium", "large", "xlarge"], size)])
    error_message = "worker_task_sizes keys must be among: micro, small, medium, large, xlarge."
  }

  validation {
    # Fargate accepts only these memory ranges (MiB) per CPU value.
    condition = alltrue([
      for size in values(var.worker_task_sizes) : contains(["256", "512", "1024", "2048", "4096", "8192", "16384"], tostring(size.cpu)) && (
        size.memory >= lookup({ "256" = 512, "512" = 1024, "1024" = 2048, "2048" = 4096, "4096" = 8192, "8192" = 16384, "16384" = 32768 }, tostring(size.cpu), 0) &&
        size.memory <= lookup({ "256" = 2048, "512" = 4096, "1024" = 8192, "2048" = 16384, "4096" = 30720, "8192" = 61440, "16384" = 122880 }, tostring(size.cpu), 0) &&
        (size.cpu == 256 && size.memory == 512 || size.memory % lookup({ "256" = 1024, "512" = 1024, "1024" = 1024, "2048" = 1024, "4096" = 1024, "8192" = 4096, "16384" = 8192 }, tostring(size.cpu), 1) == 0)
      )
    ])
    error_message = "Each worker task size must be a CPU/memory pair Fargate accepts (for example 256/512, 512/1024, 1024/2048, 2048/4096, 4096/8192)."
  }
}

variable "record_task_size" {
  description = "Task size for channels that only need snapshots or motion capture (no transcoding)"
  type        = string
  default     = "small"
  nullable    = false

  validation {
    condition     = contains(["micro", "small", "medium", "large", "xlarge"], var.record_task_size)
    error_message = "record_task_size must be one of: micro, small, medium, large, xlarge."
  }
}

variable "transcode_task_size" {
  description = "Task size for channels with a transcoding ladder or a watermark"
  type        = string
  default     = "large"
  nullable    = false

  validation {
    condition     = contains(["micro", "small", "medium", "large", "xlarge"], var.transcode_task_size)
    error_message = "transcode_task_size must be one of: micro, small, medium, large, xlarge."
  }
}

variable "default_codec" {
  description = "Video codec of the ladder when a channel does not choose one: `libx264` or `libx265`"
  type        = string
  default     = "libx264"
  nullable    = false

  validation {
    condition     = contains(["libx264", "libx265"], var.default_codec)
    error_message = "default_codec must be libx264 or libx265."
  }
}

variable "default_renditions" {
  description = "Renditions of the ladder when a channel enables transcoding without listing them"
  type        = list(string)
  default     = ["360p", "720p"]
  nullable    = false

  validation {
    condition     = alltrue([for rendition in var.default_renditions : contains(["360p", "480p", "720p", "1080p"], rendition)])
    error_message = "default_renditions may only contain 360p, 480p, 720p and 1080p."
  }
}

variable "worker_capacity_provider" {
  description = "Capacity provider the scheduler starts workers on. `FARGATE_SPOT` costs about 70% less but a task can be reclaimed with two minutes' notice (the stream keeps its original rendition meanwhile)"
  type        = string
  default     = "FARGATE"
  nullable    = false

  validation {
    condition     = contains(["FARGATE", "FARGATE_SPOT"], var.worker_capacity_provider)
    error_message = "worker_capacity_provider must be FARGATE or FARGATE_SPOT."
  }
}

variable "cpu_architecture" {
  description = "CPU architecture of the worker image: `X86_64` or `ARM64` (Graviton)"
  type        = string
  default     = "X86_64"
  nullable    = false

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "worker_ephemeral_storage_gib" {
  description = "Ephemeral storage of a worker task in GiB (ffmpeg scratch space, motion clips before upload); 21 to 200"
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.worker_ephemeral_storage_gib >= 21 && var.worker_ephemeral_storage_gib <= 200
    error_message = "worker_ephemeral_storage_gib must be between 21 and 200."
  }
}

variable "worker_environment" {
  description = "Extra environment variables for the worker container"
  type        = map(string)
  default     = {}
  nullable    = false
}

################################################################################
# What the workers use
################################################################################

variable "table_name" {
  description = "Name of the metadata table"
  type        = string
  nullable    = false
}

variable "table_arn" {
  description = "ARN of the metadata table in this region"
  type        = string
  nullable    = false
}

variable "bucket_name" {
  description = "Name of the assets bucket"
  type        = string
  nullable    = false
}

variable "bucket_arn" {
  description = "ARN of the assets bucket"
  type        = string
  nullable    = false
}

variable "event_bus_name" {
  description = "Name of the event bus the workers publish to (recording and snapshot ready)"
  type        = string
  nullable    = false
}

variable "event_bus_arn" {
  description = "ARN of the event bus the workers publish to"
  type        = string
  nullable    = false
}

variable "push_key_secret_arn" {
  description = "ARN of the Secrets Manager secret holding the push HMAC key (the workers sign the push URLs of their renditions with it)"
  type        = string
  nullable    = false
}
