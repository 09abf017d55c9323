variable "region" {
  description = "Region of the state bucket (for example `us-east-1`, or `cn-northwest-1` for the aws-cn account)"
  type        = string
  nullable    = false
}

variable "github_repository" {
  description = "GitHub repository (`OWNER/NAME`) that deploys"
  type        = string
  default     = "livestack/livestack"
  nullable    = false
}

variable "apply_environments" {
  description = "GitHub environments whose jobs may apply (one per root the deploy workflow applies)"
  type        = list(string)
  default     = ["production-global", "production-us-east-1", "production-eu-west-1", "production-ap-southeast-1"]
  nullable    = false
}

variable "create_lock_table" {
  description = "Whether to create the DynamoDB lock table (true for the aws-cn account, whose roots lock with it)"
  type        = bool
  default     = false
  nullable    = false
}
