variable "alias" {
  description = "Alias of the key, without the alias/ prefix (for example \"blog-base\")."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9/_-]+$", var.alias)) && !startswith(var.alias, "aws/")
    error_message = "alias may hold letters, digits, /, _ and -, and must not start with aws/ (reserved by AWS)."
  }
}

variable "purpose" {
  description = "What the key encrypts; becomes the key's description."
  type        = string
}

variable "region" {
  description = "AWS region of the key and of the log groups it encrypts."
  type        = string
}

variable "log_group_names" {
  description = "CloudWatch Logs groups that may encrypt with the key. The key policy lets the region's CloudWatch Logs service use the key for exactly these groups (its encryption context); empty grants CloudWatch Logs nothing."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags of the key."
  type        = map(string)
  default     = {}
}
