variable "name" {
  description = "Name prefix for every resource (for example `livestack`)"
  type        = string
  nullable    = false
}

variable "region" {
  description = "Region where the regional resources are managed. Defaults to the Region set in the provider configuration"
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
# Network
################################################################################

variable "vpc_id" {
  description = "ID of the VPC"
  type        = string
  nullable    = false
}

variable "public_subnet_ids" {
  description = "Public subnets of the ALB"
  type        = list(string)
  nullable    = false
}

variable "private_subnet_ids" {
  description = "Private subnets of the edge tasks"
  type        = list(string)
  nullable    = false
}

variable "restrict_alb_to_cloudfront" {
  description = "Whether the ALB accepts connections only from CloudFront's origin-facing addresses (the `com.amazonaws.global.cloudfront.origin-facing` managed prefix list). Turn off where that list does not exist (aws-cn); the origin header still keeps others out"
  type        = bool
  default     = true
  nullable    = false
}

variable "alb_certificate_arn" {
  description = "ACM certificate (in this region) for an HTTPS listener on the ALB; CloudFront then reaches the origin over TLS at `origin_domain_name`. Null keeps CloudFront-to-ALB traffic on HTTP"
  type        = string
  default     = null
}

variable "origin_domain_name" {
  description = "Name CloudFront uses to reach the ALB over HTTPS (covered by `alb_certificate_arn`, pointing at the ALB). Null uses the ALB's DNS name"
  type        = string
  default     = null
}

################################################################################
# Edge service
################################################################################

variable "cluster_arn" {
  description = "ARN of the ECS cluster"
  type        = string
  nullable    = false
}

variable "cluster_name" {
  description = "Name of the ECS cluster"
  type        = string
  nullable    = false
}

variable "image" {
  description = "Container image of the edge"
  type        = string
  nullable    = false
}

variable "repository_arn" {
  description = "ARN of the ECR repository of the edge image"
  type        = string
  nullable    = false
}

variable "cpu_architecture" {
  description = "CPU architecture of the edge image: `X86_64` or `ARM64`"
  type        = string
  default     = "X86_64"
  nullable    = false

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "edge" {
  description = "Size and scaling of the edge service. `use_spot` runs tasks beyond the first on FARGATE_SPOT (an edge holds no state a viewer cannot re-fetch)"
  type = object({
    cpu                    = optional(number, 1024)
    memory                 = optional(number, 2048)
    desired_count          = optional(number, 2)
    min_capacity           = optional(number, 2)
    max_capacity           = optional(number, 20)
    cpu_target_utilization = optional(number, 60)
    requests_per_target    = optional(number, 3000)
    use_spot               = optional(bool, false)
  })
  default  = {}
  nullable = false
}

variable "environment" {
  description = "Extra environment variables of the edge container"
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "log_group_name" {
  description = "Name of the edge log group"
  type        = string
  nullable    = false
}

variable "log_group_arn" {
  description = "ARN of the edge log group"
  type        = string
  nullable    = false
}

variable "table_name" {
  description = "Name of the metadata table (where the edge finds the gateway holding a stream)"
  type        = string
  nullable    = false
}

variable "table_arn" {
  description = "ARN of the metadata table in this region"
  type        = string
  nullable    = false
}

################################################################################
# CloudFront
################################################################################

variable "price_class" {
  description = "CloudFront price class: `PriceClass_100`, `PriceClass_200` or `PriceClass_All`"
  type        = string
  default     = "PriceClass_All"
  nullable    = false

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.price_class)
    error_message = "price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}

variable "aliases" {
  description = "Alternate domain names of the playback distribution (need `acm_certificate_arn` or `iam_certificate_id`)"
  type        = list(string)
  default     = []
  nullable    = false
}

variable "acm_certificate_arn" {
  description = "ACM certificate in us-east-1 covering `aliases`. Not offered by CloudFront in aws-cn: use `iam_certificate_id` there"
  type        = string
  default     = null
}

variable "iam_certificate_id" {
  description = "ID of an IAM server certificate covering `aliases` (how CloudFront in aws-cn takes certificates)"
  type        = string
  default     = null
}

variable "origin_shield_region" {
  description = "Region of the CloudFront Origin Shield in front of the ALB (usually this region); null leaves it off. Worth it when many edge locations pull the same live segments"
  type        = string
  default     = null
}

variable "web_acl_id" {
  description = "ARN of a WAFv2 web ACL (scope CLOUDFRONT) to attach; null attaches none"
  type        = string
  default     = null
}

variable "segment_ttl_seconds" {
  description = "How long CloudFront keeps media segments. Segment names are unique per stream session, so a segment never changes"
  type        = number
  default     = 86400
  nullable    = false
}

variable "playlist_ttl_seconds" {
  description = "How long CloudFront keeps a live playlist (about half a part or segment duration keeps LL-HLS live)"
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.playlist_ttl_seconds >= 1 && var.playlist_ttl_seconds <= 2
    error_message = "playlist_ttl_seconds must be 1 or 2: longer makes live playlists stale, and 0 would drop the LL-HLS query strings from the cache key."
  }
}

variable "hls_query_strings" {
  description = "Query strings part of a playlist's cache key: the LL-HLS delivery directives (blocking reload, parts, skip)"
  type        = list(string)
  default     = ["_HLS_msn", "_HLS_part", "_HLS_skip"]
  nullable    = false
}

################################################################################
# Signed playback
################################################################################

variable "playback_public_keys" {
  description = "PEM public keys CloudFront trusts for signed playback URLs, by name. Keep two during a rotation. The private keys stay in Secrets Manager"
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "require_signed_urls" {
  description = "Whether CloudFront itself refuses playback requests without a valid signed URL or cookie. Off, the edge still enforces signed playback per channel (`playAuth`)"
  type        = bool
  default     = false
  nullable    = false
}

variable "origin_verify_secret_version" {
  description = "Change to generate a new secret header value between CloudFront and the ALB"
  type        = number
  default     = 1
  nullable    = false
}

variable "http_version" {
  description = "Highest HTTP version CloudFront offers viewers: `http2and3` or `http2`"
  type        = string
  default     = "http2and3"
  nullable    = false

  validation {
    condition     = contains(["http2", "http2and3"], var.http_version)
    error_message = "http_version must be http2 or http2and3."
  }
}
