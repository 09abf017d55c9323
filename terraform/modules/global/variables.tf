variable "name" {
  description = "Name of the deployment, the prefix of every resource. The region roots use the same"
  type        = string
  default     = "livestack"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name))
    error_message = "name must be 3 to 20 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "region" {
  description = "Primary region: the table's primary replica, the source ECR registry, the primary secrets"
  type        = string
  nullable    = false
}

variable "tags" {
  description = "A map of tags to add to all resources"
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "replica_regions" {
  description = "Every other region with a region root. Gets a table replica, image replication and secret replicas"
  type        = list(string)
  default     = []
  nullable    = false
}

variable "table" {
  description = "Metadata table settings: table class, point-in-time recovery, deletion protection"
  type = object({
    table_class                   = optional(string)
    enable_point_in_time_recovery = optional(bool)
    enable_deletion_protection    = optional(bool)
  })
  default  = {}
  nullable = false
}

variable "keep_tagged_images" {
  description = "Images each ECR repository keeps"
  type        = number
  default     = 30
  nullable    = false
}

variable "push_key_version" {
  description = "Increase to rotate the push HMAC key (see the secrets module)"
  type        = number
  default     = 1
  nullable    = false
}

variable "route53_domain_name" {
  description = "Domain of a Route 53 public hosted zone to create for push, playback and console names (for example `live.example.com`); null creates none"
  type        = string
  default     = null
}
