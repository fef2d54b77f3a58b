# Development environment, service state. table_name and ecr_repository_name are the base state's
# outputs. image_tag is not set here: pass the short SHA the first build pushed with
# -var image_tag=... (docs/aws-setup.md); Terraform asks for it otherwise.
environment            = "dev"
name                   = "blog-dev"
region                 = "us-east-1"
table_name             = "BlogPosts"
journal_table_name     = "blog-dev-journal"
ecr_repository_name    = "blog-dev"
codebuild_project_name = "blog-dev-image"

# The default VPC has public subnets and no NAT: tasks need public IPs to pull the image. Their
# security group still admits only the load balancer on the container port.
assign_public_ip = true

# With certificate_arn set, production serves HTTPS on 443 and port 80 redirects to it (301);
# without it, plain HTTP on 80. prod_listener_port overrides the port.
# certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/..."
test_listener_port = 8080
prod_ingress_cidrs = ["0.0.0.0/0"]
# Add your office or VPN range (for example "198.51.100.0/24") to smoke-test the idle color from
# outside the VPC; empty keeps the test listener closed.
test_ingress_cidrs = []

alb_deletion_protection = false
desired_count           = 1
task_cpu                = 256
task_memory             = 512
log_retention_days      = 30
