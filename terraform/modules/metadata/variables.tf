variable "name" {
  description = "Name of the DynamoDB table (for example `livestack`)"
  type        = string
  nullable    = false
}

variable "region" {
  description = "Region of the primary table. Defaults to the Region set in the provider configuration"
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
  description = "Regions holding a replica of the table (a DynamoDB global table, version 2019.11.21). Every region root must be listed here or be the primary region. Replicas stay in the table's partition: `aws-cn` regions replicate only with each other"
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = length(var.replica_regions) == length(distinct(var.replica_regions))
    error_message = "replica_regions must not list a region twice."
  }
}

variable "table_class" {
  description = "Table class: `STANDARD`, or `STANDARD_INFREQUENT_ACCESS` when storage outweighs throughput"
  type        = string
  default     = "STANDARD"
  nullable    = false

  validation {
    condition     = contains(["STANDARD", "STANDARD_INFREQUENT_ACCESS"], var.table_class)
    error_message = "table_class must be STANDARD or STANDARD_INFREQUENT_ACCESS."
  }
}

variable "enable_point_in_time_recovery" {
  description = "Whether continuous backups (point-in-time recovery, 35 days) are on, in the primary and every replica"
  type        = bool
  default     = true
  nullable    = false
}

variable "enable_deletion_protection" {
  description = "Whether the table refuses to be deleted (turn off before a deliberate `terraform destroy`)"
  type        = bool
  default     = true
  nullable    = false
}
