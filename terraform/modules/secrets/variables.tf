variable "name" {
  description = "Name prefix of the secrets (`NAME/push-key`...)"
  type        = string
  nullable    = false
}

variable "region" {
  description = "Region of the primary secrets. Defaults to the Region set in the provider configuration"
  type        = string
  default     = null
}

variable "tags" {
  description = "A map of tags to add to all resources"
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "replica_regions" {
  description = "Regions the secrets are replicated to, so that every region signs and checks with the same keys"
  type        = list(string)
  default     = []
  nullable    = false
}

variable "push_key_version" {
  description = "Version of the generated push HMAC key. Increase it to rotate: a new random key becomes AWSCURRENT and the old one stays readable as AWSPREVIOUS until the next rotation"
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.push_key_version >= 1 && floor(var.push_key_version) == var.push_key_version
    error_message = "push_key_version must be a whole number of at least 1."
  }
}

variable "recovery_window_in_days" {
  description = "Days a deleted secret can still be restored (0 deletes at once)"
  type        = number
  default     = 7
  nullable    = false
}
