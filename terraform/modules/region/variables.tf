variable "name" {
  description = "Name of the deployment, the prefix of every resource. Must match the global root's `name`"
  type        = string
  default     = "livestack"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name))
    error_message = "name must be 3 to 20 lowercase letters, digits and hyphens, starting with a letter (it prefixes load balancer and bucket names)."
  }
}

variable "region" {
  description = "Region this root deploys to (the folder name under terraform/regions/)"
  type        = string
  nullable    = false
}

variable "tags" {
  description = "A map of tags to add to all resources"
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "image_tag" {
  description = "Tag of the gateway, worker and edge images to run (the deploy workflow passes the git commit)"
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a valid container image tag."
  }
}

variable "cpu_architecture" {
  description = "CPU architecture the images were built for: `X86_64` or `ARM64`"
  type        = string
  default     = "X86_64"
  nullable    = false

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "lambda_zip_dir" {
  description = "Directory of the Lambda zips (`make lambdas`). Null uses `build/lambdas` at the top of the repository"
  type        = string
  default     = null
}

################################################################################
# Global resources this region uses (created by the global root)
################################################################################

variable "table_name" {
  description = "Name of the DynamoDB global table (it must have a replica in this region). Null uses `name`"
  type        = string
  default     = null
}

variable "push_key_secret_name" {
  description = "Name of the push key secret (replicated to this region). Null uses `NAME/push-key`"
  type        = string
  default     = null
}

variable "playback_private_key_secret_name" {
  description = "Name of the playback private key secret (replicated to this region). Null uses `NAME/playback-private-key`"
  type        = string
  default     = null
}

################################################################################
# Settings per component
################################################################################

variable "network" {
  description = "VPC settings: CIDR, number of AZs, NAT mode (`single`, `per_az`, `none`) and interface endpoints (see the network module)"
  type = object({
    cidr_block          = optional(string)
    az_count            = optional(number)
    nat_gateway_mode    = optional(string)
    interface_endpoints = optional(list(string))
  })
  default  = {}
  nullable = false
}

variable "ingest" {
  description = "RTMP ingest: ACM certificate for RTMPS on 443, encoder CIDRs, drain time, gateway size and scaling, and an optional latency-routed push domain (see the ingest module)"
  type = object({
    certificate_arn              = optional(string)
    allowed_cidrs                = optional(list(string))
    deregistration_delay_seconds = optional(number)
    route53_zone_id              = optional(string)
    push_domain_name             = optional(string)
    gateway = optional(object({
      cpu                    = optional(number)
      memory                 = optional(number)
      desired_count          = optional(number)
      min_capacity           = optional(number)
      max_capacity           = optional(number)
      cpu_target_utilization = optional(number)
      scale_in_cooldown      = optional(number)
    }), {})
  })
  default  = {}
  nullable = false
}

variable "playback" {
  description = "Playback: edge size and scaling, CloudFront (aliases, certificates, price class, origin shield, HTTP version), signed-URL keys (`public_keys` by name, `active_key` the API signs with), whether CloudFront itself requires signatures, and `origin_verify_secret_version` (increase to rotate the CloudFront-to-ALB secret header)"
  type = object({
    aliases                      = optional(list(string))
    acm_certificate_arn          = optional(string)
    iam_certificate_id           = optional(string)
    price_class                  = optional(string)
    origin_shield_region         = optional(string)
    http_version                 = optional(string)
    restrict_alb_to_cloudfront   = optional(bool)
    alb_certificate_arn          = optional(string)
    origin_domain_name           = optional(string)
    public_keys                  = optional(map(string), {})
    active_key                   = optional(string)
    require_signed_urls          = optional(bool)
    origin_verify_secret_version = optional(number)
    edge = optional(object({
      cpu                    = optional(number)
      memory                 = optional(number)
      desired_count          = optional(number)
      min_capacity           = optional(number)
      max_capacity           = optional(number)
      cpu_target_utilization = optional(number)
      requests_per_target    = optional(number)
      use_spot               = optional(bool)
    }), {})
  })
  default  = {}
  nullable = false

  validation {
    condition     = length(var.playback.public_keys) == 0 || contains(keys(var.playback.public_keys), coalesce(var.playback.active_key, "-"))
    error_message = "playback.active_key must name one of playback.public_keys (the key the API signs play URLs with)."
  }
}

variable "worker" {
  description = "Workers: task sizes, the size for recording-only and transcoding channels, default codec and renditions, capacity provider, scratch space (see the processing module)"
  type = object({
    task_sizes = optional(map(object({
      cpu    = number
      memory = number
    })))
    record_task_size      = optional(string)
    transcode_task_size   = optional(string)
    default_codec         = optional(string)
    default_renditions    = optional(list(string))
    capacity_provider     = optional(string)
    ephemeral_storage_gib = optional(number)
  })
  default  = {}
  nullable = false
}

variable "api" {
  description = "REST API: authorizer (`COGNITO_USER_POOLS` or `AWS_IAM`), stage, Cognito callback URLs and domain prefix, API key names, and whether `ingestauth` gets a function URL (false: the gateway uses the Lambda Invoke API) (see the api module)"
  type = object({
    authorizer_type                = optional(string)
    stage_name                     = optional(string)
    cognito_callback_urls          = optional(list(string))
    cognito_domain_prefix          = optional(string)
    api_key_names                  = optional(list(string))
    enable_ingestauth_function_url = optional(bool)
  })
  default  = {}
  nullable = false
}

variable "storage" {
  description = "Assets bucket: lifecycle tiering by prefix, CORS origins, force_destroy (see the storage module)"
  type = object({
    lifecycle_rules = optional(map(object({
      standard_ia_days           = optional(number)
      glacier_ir_days            = optional(number)
      deep_archive_days          = optional(number)
      expiration_days            = optional(number)
      noncurrent_expiration_days = optional(number, 30)
    })))
    cors_allowed_origins = optional(list(string))
    force_destroy        = optional(bool)
  })
  default  = {}
  nullable = false
}

variable "console" {
  description = "Admin console (S3 + CloudFront): whether to create it here, aliases, certificates, price class"
  type = object({
    enabled             = optional(bool, true)
    aliases             = optional(list(string))
    acm_certificate_arn = optional(string)
    iam_certificate_id  = optional(string)
    price_class         = optional(string)
  })
  default  = {}
  nullable = false
}

variable "observability" {
  description = "Log retention in days and the email addresses alarms notify"
  type = object({
    log_retention_days    = optional(number)
    alarm_email_addresses = optional(list(string))
  })
  default  = {}
  nullable = false
}
