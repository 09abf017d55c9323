provider "aws" {
  region = "ap-southeast-1"

  default_tags {
    tags = {
      Application = "livestack"
      ManagedBy   = "terraform"
      Root        = "regions/ap-southeast-1"
    }
  }
}

module "region" {
  source = "../../modules/region"

  region    = "ap-southeast-1"
  image_tag = var.image_tag
}
