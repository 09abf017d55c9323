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
# VPC and subnets
################################################################################

variable "cidr_block" {
  description = "IPv4 CIDR block of the VPC. Public and private subnets are carved out of it as /20s (for a /16)"
  type        = string
  default     = "10.40.0.0/16"
  nullable    = false

  validation {
    condition     = can(cidrhost(var.cidr_block, 0)) && tonumber(split("/", var.cidr_block)[1]) <= 20
    error_message = "cidr_block must be a valid IPv4 CIDR of /20 or larger."
  }
}

variable "az_count" {
  description = "Number of Availability Zones to spread subnets over (at least 2, for the load balancers and for resilience)"
  type        = number
  default     = 2
  nullable    = false

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 6
    error_message = "az_count must be between 2 and 6."
  }
}

variable "nat_gateway_mode" {
  description = "Outbound internet access for private subnets: `single` (one NAT gateway, cheapest), `per_az` (one per AZ, survives an AZ outage) or `none` (VPC endpoints only; relays to external RTMP servers then cannot work)"
  type        = string
  default     = "single"
  nullable    = false

  validation {
    condition     = contains(["single", "per_az", "none"], var.nat_gateway_mode)
    error_message = "nat_gateway_mode must be one of: single, per_az, none."
  }
}

################################################################################
# VPC endpoints
################################################################################

variable "interface_endpoints" {
  description = "AWS services reached through interface VPC endpoints from the private subnets (service names as in `aws ec2 describe-vpc-endpoint-services`, without the `com.amazonaws.REGION.` prefix). S3 and DynamoDB always get gateway endpoints. Set to [] to rely on the NAT gateway only"
  type        = list(string)
  default     = ["ecr.api", "ecr.dkr", "logs", "secretsmanager", "events", "lambda", "sts"]
  nullable    = false
}
