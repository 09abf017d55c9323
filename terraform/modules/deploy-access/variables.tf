variable "name" {
  description = "Name prefix of the roles and the state bucket (for example `livestack`)"
  type        = string
  nullable    = false
}

variable "region" {
  description = "Region of the state bucket. Defaults to the Region set in the provider configuration"
  type        = string
  default     = null
}

variable "tags" {
  description = "A map of tags to add to all resources"
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "github_repository" {
  description = "GitHub repository (`OWNER/NAME`) whose workflows may assume the roles"
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must look like OWNER/NAME."
  }
}

variable "apply_environments" {
  description = "GitHub environments (with required reviewers) whose jobs may assume the apply role, for example `production-us-east-1`"
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.apply_environments) > 0
    error_message = "List at least one GitHub environment for the apply role."
  }
}

variable "create_oidc_provider" {
  description = "Whether to create the account's GitHub OIDC provider (false when the account already has one)"
  type        = bool
  default     = true
  nullable    = false
}

variable "apply_managed_policy_names" {
  description = "AWS managed policies of the apply role, by name. PowerUserAccess covers every service of the stack except IAM, which the role gets scoped to `NAME-*` roles in an inline policy"
  type        = list(string)
  default     = ["PowerUserAccess"]
  nullable    = false
}

variable "state_bucket_name" {
  description = "Name of the Terraform state bucket. Null derives `NAME-tfstate-ACCOUNT`"
  type        = string
  default     = null
}

variable "create_lock_table" {
  description = "Whether to create a DynamoDB table for Terraform state locking, for partitions where the S3 backend's lock file (`use_lockfile`) cannot be used. The aws-cn roots lock with it"
  type        = bool
  default     = false
  nullable    = false
}
