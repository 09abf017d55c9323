data "aws_region" "current" {
  region = var.region
}

################################################################################
# Table
################################################################################

# One table for every entity. The key layout (what goes in pk, sk, gsi1pk...) belongs to the
# Go store (shared/store/dynamostore, docs/store.md); this module only declares the attributes
# DynamoDB must know: the keys of the table and of the two generic indexes. The store's tests
# create their tables from the same definition and fail if this one drifts from it.
resource "aws_dynamodb_table" "this" {
  region = var.region

  name         = var.name
  billing_mode = "PAY_PER_REQUEST"
  table_class  = var.table_class
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  attribute {
    name = "gsi1pk"
    type = "S"
  }

  attribute {
    name = "gsi1sk"
    type = "S"
  }

  attribute {
    name = "gsi2pk"
    type = "S"
  }

  attribute {
    name = "gsi2sk"
    type = "S"
  }

  global_secondary_index {
    name            = "gsi1"
    hash_key        = "gsi1pk"
    range_key       = "gsi1sk"
    projection_type = "ALL"
  }

  global_secondary_index {
    name            = "gsi2"
    hash_key        = "gsi2pk"
    range_key       = "gsi2sk"
    projection_type = "ALL"
  }

  # Publish sessions expire by themselves (ttl: epoch seconds, the end of the lease).
  ttl {
    attribute_name = "ttl"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = var.enable_point_in_time_recovery
  }

  # Encrypted at rest with an AWS owned key (the default), which every replica region has.
  server_side_encryption {
    enabled = false
  }

  # Global tables replicate through the stream, which must carry both images.
  stream_enabled   = true
  stream_view_type = "NEW_AND_OLD_IMAGES"

  deletion_protection_enabled = var.enable_deletion_protection

  dynamic "replica" {
    for_each = var.replica_regions

    content {
      region_name            = replica.value
      point_in_time_recovery = var.enable_point_in_time_recovery
      propagate_tags         = true
    }
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = !contains(var.replica_regions, data.aws_region.current.region)
      error_message = "replica_regions must not contain the primary region of the table."
    }
  }
}
