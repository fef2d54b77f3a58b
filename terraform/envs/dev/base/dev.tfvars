# Development environment, base state. Set source_location to your clone of this repository.
environment               = "dev"
name                      = "blog-dev"
region                    = "us-east-1"
table_name                = "BlogPosts"
table_deletion_protection = false
ecr_repository_name       = "blog-dev"
codebuild_project_name    = "blog-dev-image"
source_type               = "GITHUB"
source_location           = "https://github.com/your-org/bluegreen.git"
source_branch             = "main"
log_retention_days        = 30
