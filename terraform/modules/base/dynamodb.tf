# The seed's key schema (post_id hash, author range), so items written by the seed's app stay
# readable. The seed's local secondary indexes on title and content are gone on purpose: DynamoDB
# rejects an index key longer than 1,024 bytes, which made long posts unsaveable. The listing reads
# the time-ordered global index instead of scanning the table.
resource "aws_dynamodb_table" "posts" {
  name                        = var.table_name
  billing_mode                = var.table_billing_mode
  read_capacity               = var.table_billing_mode == "PROVISIONED" ? var.table_read_capacity : null
  write_capacity              = var.table_billing_mode == "PROVISIONED" ? var.table_write_capacity : null
  hash_key                    = "post_id"
  range_key                   = "author"
  deletion_protection_enabled = var.table_deletion_protection

  attribute {
    name = "post_id"
    type = "S"
  }

  attribute {
    name = "author"
    type = "S"
  }

  # Every post carries feed = "posts", so one partition of the index lists all posts by time.
  attribute {
    name = "feed"
    type = "S"
  }

  attribute {
    name = "timestamp"
    type = "S"
  }

  # One author's posts by time, for /authors/NAME.
  global_secondary_index {
    name            = "ByAuthor"
    hash_key        = "author"
    range_key       = "timestamp"
    projection_type = "ALL"
    read_capacity   = var.table_billing_mode == "PROVISIONED" ? var.table_read_capacity : null
    write_capacity  = var.table_billing_mode == "PROVISIONED" ? var.table_write_capacity : null
  }

  global_secondary_index {
    name            = "ByTimestamp"
    hash_key        = "feed"
    range_key       = "timestamp"
    projection_type = "ALL"
    read_capacity   = var.table_billing_mode == "PROVISIONED" ? var.table_read_capacity : null
    write_capacity  = var.table_billing_mode == "PROVISIONED" ? var.table_write_capacity : null
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.kms.key_arn
  }

  tags = local.tags
}

# Author accounts live in their own table, never as items in the posts table: the seed's app Scans
# that one and would show them as posts. The blog reads an account per signed-in request and
# bumps its session epoch; `blog user …` (an operator) adds and removes them.
resource "aws_dynamodb_table" "authors" {
  name                        = var.authors_table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "name"
  deletion_protection_enabled = var.table_deletion_protection

  attribute {
    name = "name"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.kms.key_arn
  }

  tags = local.tags
}

# The console's journal: one item per write (who, when, the verb, the weights before and after,
# the outcome, the gate values). Hash key = the environment (its cluster name), range key = the
# entry's time-ordered id, so `bluegreen history --since 2h` is one Query. Append-only by IAM:
# the operator policy grants PutItem (the console adds attribute_not_exists(id)) and Query, never
# UpdateItem or DeleteItem.
resource "aws_dynamodb_table" "journal" {
  name                        = "${var.name}-journal"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "environment"
  range_key                   = "id"
  deletion_protection_enabled = var.table_deletion_protection

  attribute {
    name = "environment"
    type = "S"
  }

  attribute {
    name = "id"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.kms.key_arn
  }

  tags = local.tags
}

# The deploy lock: one item per environment (`pk` = the production listener's ARN), written
# by the console with conditional PutItem/DeleteItem only (docs/architecture.md, "The deploy
# lock"). `expires_at` is the lease's end; TTL deletes abandoned leases eventually (an
# expired lease is free either way).
resource "aws_dynamodb_table" "locks" {
  name                        = "${var.name}-locks"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  deletion_protection_enabled = var.table_deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.kms.key_arn
  }

  tags = local.tags
}
