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
# Network
################################################################################

variable "vpc_id" {
  description = "ID of the VPC"
  type        = string
  nullable    = false
}

variable "public_subnet_ids" {
  description = "Public subnets of the NLB (one per AZ)"
  type        = list(string)
  nullable    = false
}

variable "private_subnet_ids" {
  description = "Private subnets of the gateway tasks"
  type        = list(string)
  nullable    = false
}

variable "allowed_ingest_cidrs" {
  description = "IPv4 ranges encoders may publish from (RTMP 1935 and RTMPS 443)"
  type        = list(string)
  default     = ["0.0.0.0/0"]
  nullable    = false
}

variable "media_client_security_group_ids" {
  description = "Security groups that pull streams from the gateways or push renditions back (edge, worker), by key. Each may reach RTMP 1935 and HTTP 8080 of the gateway tasks"
  type        = map(string)
  default     = {}
  nullable    = false
}

################################################################################
# Load balancer
################################################################################

variable "certificate_arn" {
  description = "ARN of the ACM certificate the NLB's TLS 443 listener presents to RTMPS encoders. Null leaves RTMPS off (plain RTMP on 1935 only). In aws-cn the certificate must be imported into ACM"
  type        = string
  default     = null
}

variable "tls_policy" {
  description = "Security policy of the TLS 443 listener"
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  nullable    = false
}

variable "deregistration_delay_seconds" {
  description = "Seconds a draining gateway keeps its publishers before the NLB lets it stop. Long, so that a deployment or scale-in does not cut a broadcast: encoders reconnect on their own schedule, and the publishing session ends naturally in the meantime"
  type        = number
  default     = 900
  nullable    = false

  validation {
    condition     = var.deregistration_delay_seconds >= 0 && var.deregistration_delay_seconds <= 3600
    error_message = "deregistration_delay_seconds must be between 0 and 3600."
  }
}

variable "enable_cross_zone_load_balancing" {
  description = "Whether the NLB spreads connections over gateways in every AZ (evens out publishers; costs inter-AZ traffic)"
  type        = bool
  default     = true
  nullable    = false
}

################################################################################
# Gateway service
################################################################################

variable "cluster_arn" {
  description = "ARN of the ECS cluster"
  type        = string
  nullable    = false
}

variable "cluster_name" {
  description = "Name of the ECS cluster"
  type        = string
  nullable    = false
}

variable "image" {
  description = "Container image of the gateway"
  type        = string
  nullable    = false
}

variable "repository_arn" {
  description = "ARN of the ECR repository of the gateway image"
  type        = string
  nullable    = false
}

variable "cpu_architecture" {
  description = "CPU architecture of the gateway image: `X86_64` or `ARM64`"
  type        = string
  default     = "X86_64"
  nullable    = false

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "gateway" {
  description = "Size and scaling of the gateway service. Scale-in is slow on purpose: a gateway holds publishers"
  type = object({
    cpu                    = optional(number, 1024)
    memory                 = optional(number, 2048)
    desired_count          = optional(number, 2)
    min_capacity           = optional(number, 2)
    max_capacity           = optional(number, 20)
    cpu_target_utilization = optional(number, 50)
    scale_in_cooldown      = optional(number, 900)
  })
  default  = {}
  nullable = false
}

variable "environment" {
  description = "Extra environment variables of the gateway container"
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "log_group_name" {
  description = "Name of the gateway log group"
  type        = string
  nullable    = false
}

variable "log_group_arn" {
  description = "ARN of the gateway log group"
  type        = string
  nullable    = false
}

################################################################################
# What the gateway uses
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
  description = "Name of the assets bucket (recordings are uploaded there)"
  type        = string
  nullable    = false
}

variable "bucket_arn" {
  description = "ARN of the assets bucket"
  type        = string
  nullable    = false
}

variable "event_bus_name" {
  description = "Name of the event bus (stream started and stopped)"
  type        = string
  nullable    = false
}

variable "event_bus_arn" {
  description = "ARN of the event bus"
  type        = string
  nullable    = false
}

variable "ingestauth_function_arn" {
  description = "ARN of the `ingestauth` Lambda the gateway calls on publish and unpublish"
  type        = string
  nullable    = false
}

variable "ingestauth_function_url" {
  description = "IAM-authenticated function URL of `ingestauth` (the HTTP callback), or null when the gateway invokes it through the Lambda API"
  type        = string
  default     = null
}

variable "push_key_secret_arn" {
  description = "ARN of the Secrets Manager secret holding the push HMAC key"
  type        = string
  nullable    = false
}

################################################################################
# DNS
################################################################################

variable "route53_zone_id" {
  description = "Route 53 hosted zone of `push_domain_name`; null creates no record"
  type        = string
  default     = null
}

variable "push_domain_name" {
  description = "Push domain (for example `push.example.com`). With `route53_zone_id`, a latency-routed alias to this region's NLB is created, so encoders reach the nearest region; the RTMPS certificate must cover it"
  type        = string
  default     = null
}
