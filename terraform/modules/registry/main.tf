data "aws_caller_identity" "current" {}

locals {
  lifecycle_policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Remove untagged layers of interrupted pushes"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = 7
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the last ${var.keep_tagged_images} images"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = var.keep_tagged_images
        }
        action = { type = "expire" }
      },
    ]
  })
}

################################################################################
# Repositories
################################################################################

# Tags are the git commit; immutable, so a deployed tag always means the same image.
resource "aws_ecr_repository" "this" {
  for_each = toset(var.repositories)

  region = var.region

  name                 = "${var.name}/${each.key}"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "AES256"
  }

  tags = var.tags
}

resource "aws_ecr_lifecycle_policy" "this" {
  for_each = aws_ecr_repository.this

  region = var.region

  repository = each.value.name
  policy     = local.lifecycle_policy
}

################################################################################
# Replication
################################################################################

# Replicated repositories are created by ECR in each destination; this template gives
# them the same settings as the source ones.
resource "aws_ecr_repository_creation_template" "replication" {
  count = length(var.replica_regions) > 0 ? 1 : 0

  region = var.region

  prefix               = "${var.name}/"
  description          = "Repositories ECR creates when it replicates ${var.name} images"
  applied_for          = ["REPLICATION"]
  image_tag_mutability = "IMMUTABLE"
  lifecycle_policy     = local.lifecycle_policy
  resource_tags        = var.tags

  encryption_configuration {
    encryption_type = "AES256"
  }
}

resource "aws_ecr_replication_configuration" "this" {
  count = length(var.replica_regions) > 0 ? 1 : 0

  region = var.region

  replication_configuration {
    rule {
      dynamic "destination" {
        for_each = var.replica_regions

        content {
          region      = destination.value
          registry_id = data.aws_caller_identity.current.account_id
        }
      }

      repository_filter {
        filter      = "${var.name}/"
        filter_type = "PREFIX_MATCH"
      }
    }
  }

  depends_on = [aws_ecr_repository_creation_template.replication]
}
