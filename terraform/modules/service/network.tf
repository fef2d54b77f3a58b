# The load balancer accepts only its listener ports (and, with HTTPS, port 80 for the redirect), and
# talks only to the tasks' container port.
resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "${var.name} load balancer: production and test listeners in, container port out"
  vpc_id      = var.vpc_id
  tags        = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "alb_prod" {
  for_each = toset(var.prod_ingress_cidrs)

  #checkov:skip=CKV_AWS_260:The production listener serves the public site; prod_ingress_cidrs narrows it where the site is private.
  security_group_id = aws_security_group.alb.id
  description       = "Production listener"
  ip_protocol       = "tcp"
  from_port         = local.prod_listener_port
  to_port           = local.prod_listener_port
  cidr_ipv4         = each.value
  tags              = local.tags
}

# With a certificate, port 80 only redirects to HTTPS; the same readers may reach it.
resource "aws_vpc_security_group_ingress_rule" "alb_http_redirect" {
  for_each = local.https ? toset(var.prod_ingress_cidrs) : toset([])

  #checkov:skip=CKV_AWS_260:Port 80 answers every request with a redirect to HTTPS and serves nothing; prod_ingress_cidrs narrows it with the production listener.
  security_group_id = aws_security_group.alb.id
  description       = "Plain HTTP, redirected to the HTTPS production listener"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = each.value
  tags              = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "alb_test" {
  for_each = toset(var.test_ingress_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "Test listener (idle color), release engineers only"
  ip_protocol       = "tcp"
  from_port         = var.test_listener_port
  to_port           = var.test_listener_port
  cidr_ipv4         = each.value
  tags              = local.tags
}

resource "aws_vpc_security_group_egress_rule" "alb_to_tasks" {
  security_group_id            = aws_security_group.alb.id
  description                  = "Forward to the blog tasks"
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
  referenced_security_group_id = aws_security_group.tasks.id
  tags                         = local.tags
}

# The tasks accept their container port from the load balancer and nothing else.
resource "aws_security_group" "tasks" {
  name        = "${var.name}-tasks"
  description = "${var.name} blog tasks: container port from the load balancer only"
  vpc_id      = var.vpc_id
  tags        = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "tasks_from_alb" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "Container port, from the load balancer"
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
  referenced_security_group_id = aws_security_group.alb.id
  tags                         = local.tags
}

# Tasks call AWS APIs (ECR, S3 layers, CloudWatch Logs, SSM, DynamoDB) over HTTPS and nothing else.
resource "aws_vpc_security_group_egress_rule" "tasks_https" {
  security_group_id = aws_security_group.tasks.id
  description       = "HTTPS to AWS service endpoints"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
  tags              = local.tags
}
