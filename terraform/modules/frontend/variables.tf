variable "name" {
  description = "Name prefix for every resource (for example `livestack`)"
  type        = string
  nullable    = false
}

variable "region" {
  description = "Region of the bucket. Defaults to the Region set in the provider configuration"
  type        = string
  default     = null
}

variable "tags" {
  description = "A map of tags to add to all resources"
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "bucket_name" {
  description = "Name of the bucket holding the built console. Null derives `NAME-console-ACCOUNT-REGION`"
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Whether `terraform destroy` may delete the bucket with its files (they are rebuilt by every deploy)"
  type        = bool
  default     = true
  nullable    = false
}

variable "price_class" {
  description = "CloudFront price class: `PriceClass_100`, `PriceClass_200` or `PriceClass_All`"
  type        = string
  default     = "PriceClass_100"
  nullable    = false

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.price_class)
    error_message = "price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}

variable "aliases" {
  description = "Alternate domain names of the console (need `acm_certificate_arn` or `iam_certificate_id`)"
  type        = list(string)
  default     = []
  nullable    = false
}

variable "acm_certificate_arn" {
  description = "ACM certificate in us-east-1 covering `aliases` (not in aws-cn: use `iam_certificate_id`)"
  type        = string
  default     = null
}

variable "iam_certificate_id" {
  description = "ID of an IAM server certificate covering `aliases` (aws-cn)"
  type        = string
  default     = null
}

variable "content_security_policy" {
  description = "Content-Security-Policy header of the console. The default lets it call the API and Cognito over HTTPS and play media from any HTTPS origin"
  type        = string
  default     = "default-src 'self'; connect-src 'self' https:; img-src 'self' data: https:; media-src 'self' blob: https:; style-src 'self' 'unsafe-inline'; script-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'self'"
  nullable    = false
}
