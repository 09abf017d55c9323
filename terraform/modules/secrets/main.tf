################################################################################
# Push key
################################################################################

resource "aws_secretsmanager_secret" "push_key" {
  region = var.region

  name                    = "${var.name}/push-key"
  description             = "HMAC-SHA256 key signing push URLs (64 random letters and digits, used as the key bytes). AWSPREVIOUS stays valid during a rotation"
  recovery_window_in_days = var.recovery_window_in_days

  dynamic "replica" {
    for_each = var.replica_regions

    content {
      region = replica.value
    }
  }

  tags = var.tags
}

# Generated during apply and written as a write-only value: the key is in neither the
# plan nor the state.
ephemeral "random_password" "push_key" {
  length  = 64
  special = false
}

resource "aws_secretsmanager_secret_version" "push_key" {
  region = var.region

  secret_id                = aws_secretsmanager_secret.push_key.id
  secret_string_wo         = ephemeral.random_password.push_key.result
  secret_string_wo_version = var.push_key_version
}

################################################################################
# Playback signing key
################################################################################

# The CloudFront key pair's private half (PEM). Created empty: the operator generates the
# pair and puts the private key here (docs/deploy-aws.md); the public half goes to
# the region roots' `playback_public_keys`.
resource "aws_secretsmanager_secret" "playback_private_key" {
  region = var.region

  name                    = "${var.name}/playback-private-key"
  description             = "PEM private key signing playback URLs (CloudFront trusted key group)"
  recovery_window_in_days = var.recovery_window_in_days

  dynamic "replica" {
    for_each = var.replica_regions

    content {
      region = replica.value
    }
  }

  tags = var.tags
}
