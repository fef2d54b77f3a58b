resource "aws_lb" "this" {
  #checkov:skip=CKV2_AWS_28:A WAF web ACL is the account's choice and is attached outside this stack (aws_wafv2_web_acl_association).
  #checkov:skip=CKV2_AWS_20:With certificate_arn, aws_lb_listener.http_redirect answers port 80 with a 301 to HTTPS; checkov reads the default (no certificate), where there is no HTTPS to redirect to.
  name                       = var.name
  load_balancer_type         = "application"
  internal                   = var.internal_alb
  subnets                    = var.alb_subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.alb_deletion_protection

  dynamic "access_logs" {
    for_each = var.access_logs_bucket == null ? [] : [var.access_logs_bucket]

    content {
      bucket  = access_logs.value
      prefix  = var.name
      enabled = true
    }
  }

  tags = local.tags
}

resource "aws_lb_target_group" "color" {
  for_each = local.colors

  name                 = "${var.name}-${each.key}"
  port                 = var.container_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = var.deregistration_delay_seconds

  # /health answers 200 only when the blog can reach its table, so a task that cannot serve posts
  # never gets traffic. The seed checked "/" and accepted redirects.
  health_check {
    enabled             = true
    path                = "/health"
    matcher             = "200"
    protocol            = "HTTP"
    port                = "traffic-port"
    interval            = var.health_check_interval_seconds
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }

  tags = merge(local.tags, { "bluegreen:color" = each.key })
}

# Production traffic: a weighted forward over both colors. The console moves the weights and records
# the stable color in the bluegreen:stable tag while releases run.
resource "aws_lb_listener" "prod" {
  # HTTPS (TLS 1.3 policy, 443 by default) when certificate_arn is set; plain HTTP on 80 otherwise
  # (no domain, no TLS).
  load_balancer_arn = aws_lb.this.arn
  port              = local.prod_listener_port
  protocol          = local.listener_proto
  certificate_arn   = var.certificate_arn
  ssl_policy        = local.https ? var.ssl_policy : null

  default_action {
    type = "forward"

    forward {
      target_group {
        arn    = aws_lb_target_group.color["blue"].arn
        weight = 100
      }

      target_group {
        arn    = aws_lb_target_group.color["green"].arn
        weight = 0
      }

      stickiness {
        enabled  = false
        duration = 1
      }
    }
  }

  # bluegreen:ignore-changes tells `bluegreen doctor` that the lifecycle block below is in place
  # (the API shows nothing of Terraform's lifecycle).
  tags = merge(local.tags, {
    "bluegreen:stable"         = local.initial_stable
    "bluegreen:ignore-changes" = "default_action"
  })

  lifecycle {
    # The console owns the weights and the stable tag at run time: it shifts, promotes and rolls
    # back with ModifyListener, and records the stable color (and a pending promote's bake) in
    # these tags. Without this, the next terraform apply would silently undo a release.
    ignore_changes = [
      default_action,
      tags["bluegreen:stable"],
      # What a console last wrote (weights, each color's count and task definition), for
      # drift: written by the console beside the weights.
      tags["bluegreen:weights"],
      tags["bluegreen:service-blue"],
      tags["bluegreen:service-green"],
      tags["bluegreen:bake-old"],
      tags["bluegreen:bake-until"],
      tags["bluegreen:keep-old"],
      # The release record: its chunk count and up to 30 chunks (the console's MAX_CHUNKS).
      tags["bluegreen:release:n"],
      tags["bluegreen:release:0"],
      tags["bluegreen:release:1"],
      tags["bluegreen:release:2"],
      tags["bluegreen:release:3"],
      tags["bluegreen:release:4"],
      tags["bluegreen:release:5"],
      tags["bluegreen:release:6"],
      tags["bluegreen:release:7"],
      tags["bluegreen:release:8"],
      tags["bluegreen:release:9"],
      tags["bluegreen:release:10"],
      tags["bluegreen:release:11"],
      tags["bluegreen:release:12"],
      tags["bluegreen:release:13"],
      tags["bluegreen:release:14"],
      tags["bluegreen:release:15"],
      tags["bluegreen:release:16"],
      tags["bluegreen:release:17"],
      tags["bluegreen:release:18"],
      tags["bluegreen:release:19"],
      tags["bluegreen:release:20"],
      tags["bluegreen:release:21"],
      tags["bluegreen:release:22"],
      tags["bluegreen:release:23"],
      tags["bluegreen:release:24"],
      tags["bluegreen:release:25"],
      tags["bluegreen:release:26"],
      tags["bluegreen:release:27"],
      tags["bluegreen:release:28"],
      tags["bluegreen:release:29"],
    ]
  }
}

# With a certificate, plain HTTP on port 80 gets a permanent redirect to the production listener,
# same host, path and query, so old links and typed addresses land on HTTPS. Without one there is
# nothing to redirect to: port 80 is the production listener itself.
resource "aws_lb_listener" "http_redirect" {
  count = local.https ? 1 : 0

  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      protocol    = "HTTPS"
      port        = tostring(local.prod_listener_port)
      host        = "#{host}"
      path        = "/#{path}"
      query       = "#{query}"
      status_code = "HTTP_301"
    }
  }

  tags = local.tags
}

# Smoke tests of the idle color before it gets production traffic. Starts on green, the idle color.
resource "aws_lb_listener" "test" {
  load_balancer_arn = aws_lb.this.arn
  port              = var.test_listener_port
  protocol          = local.listener_proto
  certificate_arn   = var.certificate_arn
  ssl_policy        = local.https ? var.ssl_policy : null

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.color["green"].arn
  }

  tags = local.tags

  lifecycle {
    # The console repoints this listener at the new idle color after every promote and rollback.
    ignore_changes = [default_action]
  }
}
