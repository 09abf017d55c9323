variable "push_key_version" {
  description = "Increase to rotate the push HMAC key (docs/deploy-aws.md, rotating keys)"
  type        = number
  default     = 1
  nullable    = false
}
