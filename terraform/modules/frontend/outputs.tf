output "bucket_name" {
  description = "Name of the console bucket (the deploy workflow syncs the built SPA into it)"
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the console bucket"
  value       = aws_s3_bucket.this.arn
}

output "distribution_id" {
  description = "ID of the console distribution (invalidated after each upload)"
  value       = aws_cloudfront_distribution.this.id
}

output "distribution_arn" {
  description = "ARN of the console distribution"
  value       = aws_cloudfront_distribution.this.arn
}

output "domain_name" {
  description = "Host of the console: the first alias, or the distribution's domain name"
  value       = length(var.aliases) > 0 ? var.aliases[0] : aws_cloudfront_distribution.this.domain_name
}
