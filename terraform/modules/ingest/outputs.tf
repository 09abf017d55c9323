output "nlb_dns_name" {
  description = "DNS name of the ingest NLB (point the push domain at it)"
  value       = aws_lb.this.dns_name
}

output "nlb_zone_id" {
  description = "Route 53 zone ID of the NLB, for alias records"
  value       = aws_lb.this.zone_id
}

output "nlb_arn_suffix" {
  description = "ARN suffix of the NLB, for CloudWatch"
  value       = aws_lb.this.arn_suffix
}

output "target_group_arn_suffix" {
  description = "ARN suffix of the gateway target group, for CloudWatch"
  value       = aws_lb_target_group.rtmp.arn_suffix
}

output "push_host" {
  description = "Host encoders publish to: the push domain, or the NLB's DNS name"
  value       = local.push_host
}

output "rtmp_base_url" {
  description = "Base push URL over RTMP; append `/{channelId}?sign=...`"
  value       = "rtmp://${local.push_host}:${local.rtmp_port}/stream"
}

output "rtmps_base_url" {
  description = "Base push URL over RTMPS (null without a certificate). The host must be a name the certificate covers"
  value       = local.enable_rtmps ? "rtmps://${local.push_host}:443/stream" : null
}

output "gateway_security_group_id" {
  description = "ID of the gateway security group"
  value       = aws_security_group.gateway.id
}

output "gateway_service_name" {
  description = "Name of the gateway ECS service"
  value       = module.gateway.service_name
}

output "gateway_task_role_arn" {
  description = "ARN of the gateway task role"
  value       = module.gateway.task_role_arn
}
