variable "image_tag" {
  description = "Tag of the images to run (the deploy workflow passes the git commit)"
  type        = string
  nullable    = false
}
