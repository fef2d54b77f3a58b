//! Every AWS API operation the adapter calls, with the IAM action it needs. The operator's IAM
//! policy in `terraform/` is tested against this list, so keep it exact: add an entry with
//! every new call, remove it with the last use.
//!
//! Not an API call, so not listed: registering a task definition whose task or execution role
//! is set, and running one (the smoke task, `RunTask`), also need `iam:PassRole` on those
//! roles.

/// `(service, SDK operation, IAM action)`.
pub const OPERATIONS: &[(&str, &str, &str)] = &[
    // The production and test listeners, their tags (stable color, bake) and target health.
    (
        "elbv2",
        "DescribeLoadBalancers",
        "elasticloadbalancing:DescribeLoadBalancers",
    ),
    (
        "elbv2",
        "DescribeListeners",
        "elasticloadbalancing:DescribeListeners",
    ),
    ("elbv2", "DescribeTags", "elasticloadbalancing:DescribeTags"),
    (
        "elbv2",
        "DescribeTargetHealth",
        "elasticloadbalancing:DescribeTargetHealth",
    ),
    (
        "elbv2",
        "ModifyListener",
        "elasticloadbalancing:ModifyListener",
    ),
    ("elbv2", "AddTags", "elasticloadbalancing:AddTags"),
    ("elbv2", "RemoveTags", "elasticloadbalancing:RemoveTags"),
    // Services, tasks, deploys and scaling.
    ("ecs", "DescribeServices", "ecs:DescribeServices"),
    ("ecs", "ListTasks", "ecs:ListTasks"),
    ("ecs", "DescribeTasks", "ecs:DescribeTasks"),
    (
        "ecs",
        "DescribeTaskDefinition",
        "ecs:DescribeTaskDefinition",
    ),
    (
        "ecs",
        "RegisterTaskDefinition",
        "ecs:RegisterTaskDefinition",
    ),
    ("ecs", "UpdateService", "ecs:UpdateService"),
    // The smoke checks inside the VPC (`[profiles.X.smoke] from = "task"`): a one-off task of
    // the idle color's task definition (its roles need `iam:PassRole`, as a deploy's do), and
    // StopTask when it runs too long.
    ("ecs", "RunTask", "ecs:RunTask"),
    ("ecs", "StopTask", "ecs:StopTask"),
    // Builds.
    (
        "codebuild",
        "ListBuildsForProject",
        "codebuild:ListBuildsForProject",
    ),
    ("codebuild", "BatchGetBuilds", "codebuild:BatchGetBuilds"),
    ("codebuild", "StartBuild", "codebuild:StartBuild"),
    // Images.
    ("ecr", "DescribeImages", "ecr:DescribeImages"),
    // Logs and metrics.
    ("logs", "FilterLogEvents", "logs:FilterLogEvents"),
    ("cloudwatch", "GetMetricData", "cloudwatch:GetMetricData"),
    ("cloudwatch", "DescribeAlarms", "cloudwatch:DescribeAlarms"),
    // Who the operator is, for the deploy lock and the journal (needs no grant, but listed).
    ("sts", "GetCallerIdentity", "sts:GetCallerIdentity"),
    // The journal (issue 12, h-journal): append-only, so PutItem (conditional) and Query only.
    ("dynamodb", "PutItem", "dynamodb:PutItem"),
    ("dynamodb", "Query", "dynamodb:Query"),
    // The deploy lock: one item of the lock table, compare-and-swap only (PutItem, listed
    // above for the journal, too).
    ("dynamodb", "GetItem", "dynamodb:GetItem"),
    ("dynamodb", "DeleteItem", "dynamodb:DeleteItem"),
];
