variable "name" {
  description = "Name prefix of the repositories (`NAME/gateway`...)"
  type        = string
  nullable    = false
}

variable "region" {
  description = "Region of the source registry. Defaults to the Region set in the provider configuration"
  type        = string
  default     = null
}

variable "tags" {
  description = "A map of tags to add to all resources"
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "repositories" {
  description = "Container images, one repository each"
  type        = list(string)
  default     = ["gateway", "worker", "edge", "standalone"]
  nullable    = false

  validation {
    condition     = alltrue([for repository in var.repositories : can(regex("^[a-z0-9][a-z0-9._-]*$", repository))])
    error_message = "repositories must be lowercase ECR repository names."
  }
}

variable "replica_regions" {
  description = "Regions every image is replicated to (where the region roots pull from). Same partition only"
  type        = list(string)
  default     = []
  nullable    = false
}

variable "keep_tagged_images" {
  description = "How many tagged images each repository keeps (older ones are expired; a rollback needs the previous ones)"
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.keep_tagged_images >= 2
    error_message = "keep_tagged_images must be at least 2, to keep a rollback target."
  }
}
