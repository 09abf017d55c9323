output "bucket_name" {
  description = "Name of the assets bucket"
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the assets bucket"
  value       = aws_s3_bucket.this.arn
}

output "bucket_regional_domain_name" {
  description = "Regional domain name of the assets bucket"
  value       = aws_s3_bucket.this.bucket_regional_domain_name
}

output "prefixes" {
  description = "Key prefixes with a lifecycle rule (where recordings, VOD, snapshots and motion clips are written)"
  value       = keys(var.lifecycle_rules)
}
