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
# Functions
################################################################################

variable "lambda_zip_dir" {
  description = "Directory holding `api.zip` and `ingestauth.zip` built by `make lambdas`"
  type        = string
  nullable    = false
}

variable "log_group_names" {
  description = "Log group names of the functions, by function (`api`, `ingestauth`)"
  type        = map(string)
  nullable    = false

  validation {
    condition     = alltrue([for function in ["api", "ingestauth"] : contains(keys(var.log_group_names), function)])
    error_message = "log_group_names must have the keys api and ingestauth."
  }
}

variable "log_group_arns" {
  description = "Log group ARNs of the functions, by function (`api`, `ingestauth`)"
  type        = map(string)
  nullable    = false

  validation {
    condition     = alltrue([for function in ["api", "ingestauth"] : contains(keys(var.log_group_arns), function)])
    error_message = "log_group_arns must have the keys api and ingestauth."
  }
}

variable "api_memory_size" {
  description = "Memory of the `api` function, in MB (CPU grows with it)"
  type        = number
  default     = 512
  nullable    = false
}

variable "ingestauth_memory_size" {
  description = "Memory of the `ingestauth` function, in MB"
  type        = number
  default     = 256
  nullable    = false
}

variable "enable_ingestauth_function_url" {
  description = "Whether `ingestauth` gets an IAM-authenticated function URL (the gateway's HTTP callback, signed with SigV4). Without it the gateway calls the Lambda Invoke API"
  type        = bool
  default     = true
  nullable    = false
}

################################################################################
# What the functions use
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
  description = "Name of the assets bucket (recordings are listed, presigned and deleted through the API)"
  type        = string
  nullable    = false
}

variable "bucket_arn" {
  description = "ARN of the assets bucket"
  type        = string
  nullable    = false
}

variable "media_prefixes" {
  description = "Key prefixes of media objects in the bucket the API may read and delete"
  type        = list(string)
  default     = ["recordings/", "vod/", "snapshots/", "motion/"]
  nullable    = false
}

variable "event_bus_name" {
  description = "Name of the event bus (`ingestauth` publishes stream started and stopped)"
  type        = string
  nullable    = false
}

variable "event_bus_arn" {
  description = "ARN of the event bus"
  type        = string
  nullable    = false
}

variable "push_key_secret_arn" {
  description = "ARN of the secret holding the push HMAC key (the API signs push URLs, `ingestauth` checks them)"
  type        = string
  nullable    = false
}

variable "playback_private_key_secret_arn" {
  description = "ARN of the secret holding the PEM private key for signed playback URLs; null when playback is never signed"
  type        = string
  default     = null
}

variable "playback_key_pair_id" {
  description = "CloudFront public key ID matching the private key (the `Key-Pair-Id` of signed URLs)"
  type        = string
  default     = null
}

variable "playback_base_url" {
  description = "Base of play URLs the API hands out (for example `https://d111111abcdef8.cloudfront.net`)"
  type        = string
  nullable    = false
}

variable "push_base_url" {
  description = "Base of push URLs the API hands out (for example `rtmp://push.example.com:1935/stream`)"
  type        = string
  nullable    = false
}

################################################################################
# REST API
################################################################################

variable "stage_name" {
  description = "Stage of the REST API. `Prod` keeps the earlier solution's URLs (`https://API/Prod/videostream`) working"
  type        = string
  default     = "Prod"
  nullable    = false
}

variable "authorizer_type" {
  description = "How `/api/v1` callers authenticate: `COGNITO_USER_POOLS` (console users, JWT) or `AWS_IAM` (SigV4; for aws-cn, where Cognito user pools are not offered)"
  type        = string
  default     = "COGNITO_USER_POOLS"
  nullable    = false

  validation {
    condition     = contains(["COGNITO_USER_POOLS", "AWS_IAM"], var.authorizer_type)
    error_message = "authorizer_type must be COGNITO_USER_POOLS or AWS_IAM."
  }
}

variable "cognito_callback_urls" {
  description = "Where Cognito's hosted sign-in may return to (the console's URL)"
  type        = list(string)
  default     = ["http://localhost:8080/console/"]
  nullable    = false
}

variable "cognito_domain_prefix" {
  description = "Prefix of the Cognito hosted sign-in domain (`PREFIX.auth.REGION.amazoncognito.com`); null creates none"
  type        = string
  default     = null
}

variable "api_key_names" {
  description = "API keys to create for scripts calling the legacy `/videostream` routes (sent as `x-api-key`). Values are generated by API Gateway"
  type        = list(string)
  default     = ["default"]
  nullable    = false
}

variable "usage_plan" {
  description = "Throttling and quota of API key holders (`rate_limit`, `burst_limit`, `quota_limit` per `quota_period`), and the throttle of the whole stage for every caller (`stage_rate_limit`, `stage_burst_limit`)"
  type = object({
    rate_limit        = optional(number, 50)
    burst_limit       = optional(number, 100)
    quota_limit       = optional(number, 100000)
    quota_period      = optional(string, "MONTH")
    stage_rate_limit  = optional(number, 200)
    stage_burst_limit = optional(number, 400)
  })
  default  = {}
  nullable = false

  validation {
    condition     = contains(["DAY", "WEEK", "MONTH"], var.usage_plan.quota_period)
    error_message = "usage_plan.quota_period must be DAY, WEEK or MONTH."
  }
}
