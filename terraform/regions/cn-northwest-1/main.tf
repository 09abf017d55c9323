provider "aws" {
  region = "cn-northwest-1"

  default_tags {
    tags = {
      Application = "livestack"
      ManagedBy   = "terraform"
      Root        = "regions/cn-northwest-1"
    }
  }
}

module "region" {
  source = "../../modules/region"

  region    = "cn-northwest-1"
  image_tag = var.image_tag

  # What differs in aws-cn (docs/deploy-aws.md): no Cognito user pools, so /api/v1 takes
  # SigV4 (IAM) callers; no CloudFront origin-facing prefix list; CloudFront needs an
  # ICP-filed alias with an IAM server certificate before it serves viewers.
  api = {
    authorizer_type = "AWS_IAM"
  }

  playback = {
    restrict_alb_to_cloudfront = false
    http_version               = "http2"
  }

  console = {
    enabled = false
  }
}
