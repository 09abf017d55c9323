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
# Bucket
################################################################################

variable "bucket_name" {
  description = "Name of the assets bucket. Null derives `NAME-assets-ACCOUNT-REGION`, unique per account and region"
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Whether `terraform destroy` may delete a bucket that still holds recordings. Keep false outside test stacks"
  type        = bool
  default     = false
  nullable    = false
}

variable "kms_key_arn" {
  description = "ARN of a KMS key for SSE-KMS. Null uses SSE-S3 (AES256); note that CloudFront and presigned URLs then need no key grants"
  type        = string
  default     = null
}

variable "cors_allowed_origins" {
  description = "Origins allowed to fetch objects with CORS (players and the console reading presigned recording URLs). Empty disables CORS"
  type        = list(string)
  default     = []
  nullable    = false
}

################################################################################
# Lifecycle
################################################################################

variable "lifecycle_rules" {
  description = "Storage tiering by key prefix (the keys must end in `/`). Each tier is the age in days at which objects move to it; null skips the tier. `expiration_days` deletes current versions, `noncurrent_expiration_days` deletes overwritten or deleted versions"
  type = map(object({
    standard_ia_days           = optional(number)
    glacier_ir_days            = optional(number)
    deep_archive_days          = optional(number)
    expiration_days            = optional(number)
    noncurrent_expiration_days = optional(number, 30)
  }))
  default = {
    "recordings/" = { standard_ia_days = 30, glacier_ir_days = 90, deep_archive_days = 365 }
    "vod/"        = { standard_ia_days = 30, glacier_ir_days = 180 }
    "snapshots/"  = { standard_ia_days = 30, expiration_days = 180 }
    "motion/"     = { standard_ia_days = 30, glacier_ir_days = 90, expiration_days = 730 }
  }
  nullable = false

  validation {
    condition     = alltrue([for prefix in keys(var.lifecycle_rules) : endswith(prefix, "/") && !startswith(prefix, "/")])
    error_message = "lifecycle_rules keys must be key prefixes ending in `/` and not starting with one (for example `recordings/`)."
  }

  validation {
    condition     = alltrue([for rule in values(var.lifecycle_rules) : rule.standard_ia_days == null || try(rule.standard_ia_days >= 30, false)])
    error_message = "standard_ia_days must be at least 30: S3 does not move objects to STANDARD_IA earlier."
  }

  validation {
    # The tiers that are set must come in order, and expiry after all of them.
    condition = alltrue(flatten([
      for rule in values(var.lifecycle_rules) : [
        for days in [[for d in [rule.standard_ia_days, rule.glacier_ir_days, rule.deep_archive_days, rule.expiration_days] : d if d != null]] : [
          for i in range(1, length(days)) : days[i] > days[i - 1]
        ]
      ]
    ]))
    error_message = "In each lifecycle rule the days must increase: standard_ia_days < glacier_ir_days < deep_archive_days < expiration_days (unset tiers are skipped)."
  }

  validation {
    condition     = alltrue([for rule in values(var.lifecycle_rules) : rule.noncurrent_expiration_days == null || try(rule.noncurrent_expiration_days >= 1, false)])
    error_message = "noncurrent_expiration_days must be at least 1 (or null to keep old versions)."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which unfinished multipart uploads (an interrupted recording upload) are removed"
  type        = number
  default     = 7
  nullable    = false
}
