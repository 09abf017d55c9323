data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  dns_suffix = data.aws_partition.current.dns_suffix
  account_id = data.aws_caller_identity.current.account_id

  github_host = "token.actions.githubusercontent.com"
  # The audience GitHub asks STS for: `sts.amazonaws.com`, `sts.amazonaws.com.cn` in aws-cn
  # (the deploy workflow sets `audience` to match).
  audience = "sts.${local.dns_suffix}"

  oidc_provider_arn = var.create_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : "arn:${local.partition}:iam::${local.account_id}:oidc-provider/${local.github_host}"

  state_bucket_name = coalesce(var.state_bucket_name, "${var.name}-tfstate-${local.account_id}")
}

################################################################################
# State bucket
################################################################################

resource "aws_s3_bucket" "state" {
  region = var.region

  bucket = local.state_bucket_name

  tags = var.tags

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_ownership_controls" "state" {
  region = var.region

  bucket = aws_s3_bucket.state.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  region = var.region

  bucket = aws_s3_bucket.state.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  region = var.region

  bucket = aws_s3_bucket.state.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "state" {
  region = var.region

  bucket = aws_s3_bucket.state.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_dynamodb_table" "lock" {
  count = var.create_lock_table ? 1 : 0

  region = var.region

  name         = "${var.name}-tflock"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "LockID"

  attribute {
    name = "LockID"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  tags = var.tags
}

################################################################################
# GitHub OIDC
################################################################################

resource "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 1 : 0

  url            = "https://${local.github_host}"
  client_id_list = [local.audience]

  tags = var.tags
}

data "aws_iam_policy_document" "plan_assume" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.github_host}:aud"
      values   = [local.audience]
    }

    condition {
      test     = "StringLike"
      variable = "${local.github_host}:sub"
      values = [
        "repo:${var.github_repository}:pull_request",
        "repo:${var.github_repository}:ref:refs/heads/main",
      ]
    }
  }
}

data "aws_iam_policy_document" "apply_assume" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.github_host}:aud"
      values   = [local.audience]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.github_host}:sub"
      values   = [for environment in var.apply_environments : "repo:${var.github_repository}:environment:${environment}"]
    }
  }
}

################################################################################
# Plan role (pull requests): read everything, write only state locks
################################################################################

resource "aws_iam_role" "plan" {
  name               = "${var.name}-github-plan"
  description        = "GitHub Actions: terraform plan on pull requests"
  assume_role_policy = data.aws_iam_policy_document.plan_assume.json

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "plan_read_only" {
  role       = aws_iam_role.plan.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/ReadOnlyAccess"
}

data "aws_iam_policy_document" "state" {
  statement {
    sid       = "ListState"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.state.arn]
  }

  statement {
    sid       = "ReadWriteStateAndLocks"
    actions   = ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    resources = ["${aws_s3_bucket.state.arn}/*"]
  }

  dynamic "statement" {
    for_each = aws_dynamodb_table.lock

    content {
      sid       = "LockTable"
      actions   = ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem"]
      resources = [statement.value.arn]
    }
  }
}

resource "aws_iam_role_policy" "plan_state" {
  name   = "terraform-state"
  role   = aws_iam_role.plan.id
  policy = data.aws_iam_policy_document.state.json
}

################################################################################
# Apply role (main, behind environment approval)
################################################################################

resource "aws_iam_role" "apply" {
  name                 = "${var.name}-github-apply"
  description          = "GitHub Actions: image push and terraform apply from main"
  assume_role_policy   = data.aws_iam_policy_document.apply_assume.json
  max_session_duration = 7200

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "apply_managed" {
  for_each = toset(var.apply_managed_policy_names)

  role       = aws_iam_role.apply.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.key}"
}

data "aws_iam_policy_document" "apply_iam" {
  statement {
    sid = "ManageStackRoles"
    actions = [
      "iam:AttachRolePolicy",
      "iam:CreateRole",
      "iam:DeleteRole",
      "iam:DeleteRolePolicy",
      "iam:DetachRolePolicy",
      "iam:GetRole",
      "iam:GetRolePolicy",
      "iam:ListAttachedRolePolicies",
      "iam:ListInstanceProfilesForRole",
      "iam:ListRolePolicies",
      "iam:PassRole",
      "iam:PutRolePolicy",
      "iam:TagRole",
      "iam:UntagRole",
      "iam:UpdateAssumeRolePolicy",
      "iam:UpdateRole",
      "iam:UpdateRoleDescription",
    ]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/${var.name}-*"]
  }

  statement {
    sid       = "ServiceLinkedRoles"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/aws-service-role/*"]

    condition {
      test     = "StringLike"
      variable = "iam:AWSServiceName"
      # The service names end in the partition's DNS suffix, which differs in aws-cn.
      values = [
        "ecs.*",
        "ecs.application-autoscaling.*",
        "elasticloadbalancing.*",
        "replication.dynamodb.*",
        "replication.ecr.*",
      ]
    }
  }

  statement {
    sid       = "CloudFrontCertificatesInChina"
    actions   = ["iam:GetServerCertificate", "iam:ListServerCertificates"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:server-certificate/*"]
  }
}

resource "aws_iam_role_policy" "apply_iam" {
  name   = "stack-iam"
  role   = aws_iam_role.apply.id
  policy = data.aws_iam_policy_document.apply_iam.json
}

resource "aws_iam_role_policy" "apply_state" {
  name   = "terraform-state"
  role   = aws_iam_role.apply.id
  policy = data.aws_iam_policy_document.state.json
}
