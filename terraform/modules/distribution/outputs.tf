output "cloudfront_domain_name" {
  description = "Domain name of the playback distribution (the play URLs' host unless an alias is set)"
  value       = aws_cloudfront_distribution.this.domain_name
}

output "playback_domain_name" {
  description = "Host of the play URLs: the first alias, or the distribution's own domain name"
  value       = length(var.aliases) > 0 ? var.aliases[0] : aws_cloudfront_distribution.this.domain_name
}

output "cloudfront_distribution_id" {
  description = "ID of the playback distribution"
  value       = aws_cloudfront_distribution.this.id
}

output "cloudfront_distribution_arn" {
  description = "ARN of the playback distribution"
  value       = aws_cloudfront_distribution.this.arn
}

output "cloudfront_hosted_zone_id" {
  description = "Route 53 zone ID of the distribution, for alias records"
  value       = aws_cloudfront_distribution.this.hosted_zone_id
}

output "alb_dns_name" {
  description = "DNS name of the playback ALB (CloudFront's origin)"
  value       = aws_lb.this.dns_name
}

output "alb_arn_suffix" {
  description = "ARN suffix of the playback ALB, for CloudWatch"
  value       = aws_lb.this.arn_suffix
}

output "edge_security_group_id" {
  description = "ID of the edge security group"
  value       = aws_security_group.edge.id
}

output "edge_service_name" {
  description = "Name of the edge ECS service"
  value       = module.edge.service_name
}

output "playback_key_pair_ids" {
  description = "CloudFront public key IDs (the `Key-Pair-Id` of signed URLs), by key name"
  value       = { for key_name, key in aws_cloudfront_public_key.playback : key_name => key.id }
}
