//! The seed's topology in moto, built with the real SDK clients: a cluster with a blue and a
//! green service (task definitions with container memory/cpu, tasks emulated with RunTask),
//! two target groups with the tasks registered, an ALB with a production listener weighted
//! 100/0 and tagged `bluegreen:stable = blue` and a test listener, a log group with streams per
//! color, a CodeBuild project, and an ECR repository with tagged images.

use std::path::{Path, PathBuf};

use aws_sdk_codebuild::types::{
    ArtifactsType, ComputeType, EnvironmentType, ProjectArtifacts, ProjectEnvironment,
    ProjectSource, SourceType,
};
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, Compatibility, ContainerDefinition, KeyValuePair,
    LaunchType, LoadBalancer, LogConfiguration, LogDriver, NetworkConfiguration, NetworkMode,
    PortMapping,
};
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, ProtocolEnum, Tag, TargetDescription,
    TargetGroupStickinessConfig, TargetGroupTuple, TargetTypeEnum,
};
use bluegreen::rollout::{Color, PerColor};

use super::ec2;
use crate::moto::MotoServer;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const CONTAINER: &str = "blog";
pub const PORT: i32 = 8080;

/// Knobs for the variants the tests need.
#[derive(Debug, Clone)]
pub struct TopologyOptions {
    /// Desired count of both services.
    pub desired: u32,
    /// Tasks of each color registered (healthy in moto) in its target group.
    pub targets: PerColor<usize>,
    /// Tag the production listener `bluegreen:stable = blue`.
    pub stable_tag: bool,
    /// Image tags pushed to the repository (the services run the first one).
    pub tags: Vec<String>,
}

impl Default for TopologyOptions {
    fn default() -> Self {
        TopologyOptions {
            desired: 2,
            targets: PerColor::new(2, 2),
            stable_tag: true,
            tags: vec!["v1".into(), "v2".into()],
        }
    }
}

/// What was built, by name and ARN.
#[derive(Debug, Clone)]
pub struct Topology {
    pub sdk: aws_config::SdkConfig,
    pub cluster: String,
    pub services: PerColor<String>,
    pub families: PerColor<String>,
    pub target_groups: PerColor<String>,
    pub load_balancer: String,
    pub prod_listener: String,
    pub test_listener: String,
    pub log_group: String,
    pub project: String,
    pub repository: String,
    pub repository_uri: String,
    /// Task ids per color, in RunTask order.
    pub tasks: PerColor<Vec<String>>,
    /// Image digests by tag.
    pub digests: Vec<(String, String)>,
    pub options: TopologyOptions,
    /// The console's journal table (`<cluster>-journal`, as the Terraform base module names it).
    pub journal_table: String,
    /// The deploy lock's table, as Terraform's base module makes it.
    pub lock_table: String,
}

/// The deploy lock's table as the base module makes it: `pk` (S) hash key, on demand.
pub async fn create_lock_table(sdk: &aws_config::SdkConfig, name: &str) -> anyhow::Result<String> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    aws_sdk_dynamodb::Client::new(sdk)
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()?,
        )
        .send()
        .await
        .step("create_table (lock)")?;
    Ok(name.to_string())
}

/// Names the step that failed, with the SDK error's whole chain.
trait Step<T> {
    fn step(self, what: &str) -> anyhow::Result<T>;
}

impl<T, E: std::error::Error> Step<T> for Result<T, E> {
    fn step(self, what: &str) -> anyhow::Result<T> {
        self.map_err(|e| anyhow::anyhow!("{what}: {}", aws_sdk_ecs::error::DisplayErrorContext(&e)))
    }
}

fn manifest(tag: &str) -> String {
    // moto derives the digest from the layer digests: one distinct layer per tag.
    let fake = format!(
        "sha256:{:0>64}",
        tag.bytes().map(|b| format!("{b:02x}")).collect::<String>()
    );
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 1000 + tag.len(),
            "digest": fake,
        },
        "layers": [{
            "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "size": 100,
            "digest": fake,
        }],
    })
    .to_string()
}

impl Topology {
    /// Builds the topology in `moto`, calling it through `endpoint` (the [`super::FaultProxy`]
    /// in front of it, which repairs moto's task answers).
    pub async fn build(
        moto: &MotoServer,
        endpoint: &str,
        options: TopologyOptions,
    ) -> anyhow::Result<Self> {
        let sdk = sdk_config(endpoint).await;
        let net = ec2::default_network(&moto.endpoint()).await?;
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
        let ecs = aws_sdk_ecs::Client::new(&sdk);
        let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
        let ecr = aws_sdk_ecr::Client::new(&sdk);
        let codebuild = aws_sdk_codebuild::Client::new(&sdk);

        let cluster = "blog".to_string();
        let log_group = "/ecs/blog".to_string();
        let repository = "blog".to_string();
        let project = "blog-build".to_string();
        let repository_uri = format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repository}");
        let services = PerColor::new("blog-blue".to_string(), "blog-green".to_string());
        let families = services.clone();

        // Registry.
        ecr.create_repository()
            .repository_name(&repository)
            .send()
            .await
            .step("create_repository")?;
        let mut digests = Vec::new();
        for tag in &options.tags {
            let out = ecr
                .put_image()
                .repository_name(&repository)
                .image_manifest(manifest(tag))
                .image_manifest_media_type("application/vnd.docker.distribution.manifest.v2+json")
                .image_tag(tag)
                .send()
                .await
                .step("put_image")?;
            let digest = out
                .image()
                .and_then(|i| i.image_id())
                .and_then(|i| i.image_digest())
                .unwrap_or_default()
                .to_string();
            digests.push((tag.clone(), digest));
        }
        let first_tag = options.tags.first().cloned().unwrap_or_else(|| "v1".into());

        // Load balancer and target groups.
        let lb = elb
            .create_load_balancer()
            .name("blog")
            .set_subnets(Some(net.subnets.iter().take(2).cloned().collect()))
            .security_groups(&net.security_group)
            .send()
            .await
            .step("create_load_balancer")?;
        let load_balancer = lb
            .load_balancers()
            .first()
            .and_then(|l| l.load_balancer_arn())
            .ok_or_else(|| anyhow::anyhow!("no load balancer ARN"))?
            .to_string();
        let mut tgs = Vec::new();
        for color in Color::ALL {
            let out = elb
                .create_target_group()
                .name(format!("blog-{color}"))
                .protocol(ProtocolEnum::Http)
                .port(PORT)
                .vpc_id(&net.vpc_id)
                .target_type(TargetTypeEnum::Ip)
                .health_check_path("/health")
                .send()
                .await
                .step("create_target_group")?;
            tgs.push(
                out.target_groups()
                    .first()
                    .and_then(|t| t.target_group_arn())
                    .ok_or_else(|| anyhow::anyhow!("no target group ARN"))?
                    .to_string(),
            );
        }
        let target_groups = PerColor::new(tgs[0].clone(), tgs[1].clone());
        let forward = |blue: i32, green: i32| {
            Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .forward_config(
                    ForwardActionConfig::builder()
                        .target_groups(
                            TargetGroupTuple::builder()
                                .target_group_arn(&target_groups.blue)
                                .weight(blue)
                                .build(),
                        )
                        .target_groups(
                            TargetGroupTuple::builder()
                                .target_group_arn(&target_groups.green)
                                .weight(green)
                                .build(),
                        )
                        // Sessions stick to a color: a weight change must keep this.
                        .target_group_stickiness_config(
                            TargetGroupStickinessConfig::builder()
                                .enabled(true)
                                .duration_seconds(300)
                                .build(),
                        )
                        .build(),
                )
                .build()
        };
        let mut prod = elb
            .create_listener()
            .load_balancer_arn(&load_balancer)
            .protocol(ProtocolEnum::Http)
            .port(80)
            .default_actions(forward(100, 0));
        if options.stable_tag {
            prod = prod.tags(Tag::builder().key("bluegreen:stable").value("blue").build());
        }
        let prod_listener = listener_arn(prod.send().await.step("create_listener")?.listeners())?;
        let test = elb
            .create_listener()
            .load_balancer_arn(&load_balancer)
            .protocol(ProtocolEnum::Http)
            .port(PORT)
            .default_actions(forward(0, 1))
            .send()
            .await
            .step("create_listener")?;
        let test_listener = listener_arn(test.listeners())?;

        // Cluster, task definitions, services, emulated tasks.
        ecs.create_cluster()
            .cluster_name(&cluster)
            .send()
            .await
            .step("create_cluster")?;
        logs.create_log_group()
            .log_group_name(&log_group)
            .send()
            .await
            .step("create_log_group")?;
        let network = NetworkConfiguration::builder()
            .awsvpc_configuration(
                AwsVpcConfiguration::builder()
                    .set_subnets(Some(net.subnets.iter().take(2).cloned().collect()))
                    .security_groups(&net.security_group)
                    .assign_public_ip(AssignPublicIp::Disabled)
                    .build()?,
            )
            .build();
        let mut tasks = PerColor::new(Vec::new(), Vec::new());
        for color in Color::ALL {
            let container = ContainerDefinition::builder()
                .name(CONTAINER)
                .image(format!("{repository_uri}:{first_tag}"))
                // Container-level memory as a reservation, and no container cpu: moto echoes
                // container `cpu`/`memory` into tasks as numbers where the API has strings,
                // which the SDK rightly refuses to parse.
                .memory_reservation(512)
                .essential(true)
                .port_mappings(PortMapping::builder().container_port(PORT).build())
                .environment(
                    KeyValuePair::builder()
                        .name("BLOG_BIND")
                        .value("0.0.0.0")
                        .build(),
                )
                .environment(
                    KeyValuePair::builder()
                        .name("BLOG_COLOR")
                        .value(color.as_str())
                        .build(),
                )
                .log_configuration(
                    LogConfiguration::builder()
                        .log_driver(LogDriver::Awslogs)
                        .options("awslogs-group", &log_group)
                        .options("awslogs-region", REGION)
                        .options("awslogs-stream-prefix", color.as_str())
                        .build()?,
                )
                .build();
            let td = ecs
                .register_task_definition()
                .family(families.get(color))
                .network_mode(NetworkMode::Awsvpc)
                .requires_compatibilities(Compatibility::Fargate)
                .cpu("256")
                .memory("512")
                .execution_role_arn(format!("arn:aws:iam::{ACCOUNT}:role/blog-execution"))
                .container_definitions(container)
                .send()
                .await
                .step("register_task_definition")?;
            let td_arn = td
                .task_definition()
                .and_then(|t| t.task_definition_arn())
                .ok_or_else(|| anyhow::anyhow!("no task definition ARN"))?
                .to_string();
            let service = services.get(color);
            ecs.create_service()
                .cluster(&cluster)
                .service_name(service)
                .task_definition(&td_arn)
                .desired_count(options.desired as i32)
                .launch_type(LaunchType::Fargate)
                .network_configuration(network.clone())
                .load_balancers(
                    LoadBalancer::builder()
                        .target_group_arn(target_groups.get(color))
                        .container_name(CONTAINER)
                        .container_port(PORT)
                        .build(),
                )
                .send()
                .await
                .step("create_service")?;
            if options.desired == 0 {
                continue;
            }
            let run = ecs
                .run_task()
                .cluster(&cluster)
                .task_definition(&td_arn)
                .count(options.desired as i32)
                .launch_type(LaunchType::Fargate)
                .network_configuration(network.clone())
                .group(format!("service:{service}"))
                .started_by("ecs-svc/bluegreen-test")
                .send()
                .await
                .step("run_task")?;
            let mut targets = Vec::new();
            for task in run.tasks() {
                let (id, ip) = task_id_and_ip(task);
                if let Some(ip) = ip
                    && targets.len() < *options.targets.get(color)
                {
                    targets.push(TargetDescription::builder().id(ip).port(PORT).build());
                }
                let stream = format!("{color}/{CONTAINER}/{id}");
                logs.create_log_stream()
                    .log_group_name(&log_group)
                    .log_stream_name(&stream)
                    .send()
                    .await
                    .step("create_log_stream")?;
                tasks.get_mut(color).push(id);
            }
            if !targets.is_empty() {
                elb.register_targets()
                    .target_group_arn(target_groups.get(color))
                    .set_targets(Some(targets))
                    .send()
                    .await
                    .step("register_targets")?;
            }
        }

        // Build project.
        codebuild
            .create_project()
            .name(&project)
            .source(
                ProjectSource::builder()
                    .r#type(SourceType::S3)
                    .location("blog-source/source.zip")
                    .build()?,
            )
            .artifacts(
                ProjectArtifacts::builder()
                    .r#type(ArtifactsType::NoArtifacts)
                    .build()?,
            )
            .environment(
                ProjectEnvironment::builder()
                    .r#type(EnvironmentType::LinuxContainer)
                    .image("aws/codebuild/standard:7.0")
                    .compute_type(ComputeType::BuildGeneral1Small)
                    .build()?,
            )
            .service_role(format!("arn:aws:iam::{ACCOUNT}:role/blog-codebuild"))
            .send()
            .await
            .step("create_project")?;
        let lock_table = create_lock_table(&sdk, "blog-locks").await?;

        // The journal table, keyed as the Terraform base module keys it.
        let journal_table = format!("{cluster}-journal");
        create_journal_table(&aws_sdk_dynamodb::Client::new(&sdk), &journal_table).await?;

        Ok(Topology {
            sdk,
            cluster,
            services,
            families,
            target_groups,
            load_balancer,
            prod_listener,
            test_listener,
            log_group,
            project,
            repository,
            repository_uri,
            tasks,
            digests,
            options,
            journal_table,
            lock_table,
        })
    }

    /// A `bluegreen.toml` profile for this topology.
    pub fn profile_toml(&self, profile: &str, read_only: bool) -> String {
        let mut out = format!(
            "[profiles.{profile}]\nregion = \"{REGION}\"\nread_only = {read_only}\ncluster = \"{}\"\nload_balancer = \"{}\"\nprod_listener = \"{}\"\ntest_listener = \"{}\"\ncodebuild_project = \"{}\"\necr_repository = \"{}\"\njournal_table = \"{}\"\nlock_table = \"{}\"\n",
            self.cluster,
            self.load_balancer,
            self.prod_listener,
            self.test_listener,
            self.project,
            self.repository,
            self.journal_table,
            self.lock_table
        );
        for color in Color::ALL {
            out += &format!(
                "\n[profiles.{profile}.{color}]\nservice = \"{}\"\ntask_family = \"{}\"\ntarget_group = \"{}\"\nlog_group = \"{}\"\nlog_stream_prefix = \"{color}\"\n",
                self.services.get(color),
                self.families.get(color),
                self.target_groups.get(color),
                self.log_group
            );
        }
        out
    }

    /// Writes `bluegreen.toml` with one profile, `moto`, into `dir`.
    pub fn write_config(&self, dir: &Path, read_only: bool) -> anyhow::Result<PathBuf> {
        let path = dir.join("bluegreen.toml");
        std::fs::write(&path, self.profile_toml("moto", read_only))?;
        Ok(path)
    }

    pub fn elb(&self) -> aws_sdk_elasticloadbalancingv2::Client {
        aws_sdk_elasticloadbalancingv2::Client::new(&self.sdk)
    }

    pub fn ecs(&self) -> aws_sdk_ecs::Client {
        aws_sdk_ecs::Client::new(&self.sdk)
    }

    /// The production listener's raw weights as moto stores them: (blue, green).
    /// The production listener's weights as percentages of the raw ones (the console writes
    /// per mille, 999 for all), rounded; `raw_weights` gives them as written.
    pub async fn weights(&self) -> anyhow::Result<(i32, i32)> {
        let (b, g) = self.raw_weights().await?;
        let total = (b + g).max(1);
        let green = (g * 100 + total / 2) / total;
        Ok((100 - green, green))
    }

    /// The production listener's target group weights as the ALB holds them.
    pub async fn raw_weights(&self) -> anyhow::Result<(i32, i32)> {
        let out = self
            .elb()
            .describe_listeners()
            .listener_arns(&self.prod_listener)
            .send()
            .await
            .step("describe_listeners")?;
        let mut w = (0, 0);
        let tuples = out
            .listeners()
            .first()
            .and_then(|l| l.default_actions().first())
            .and_then(|a| a.forward_config())
            .map(|f| f.target_groups().to_vec())
            .unwrap_or_default();
        for t in tuples {
            let weight = t.weight().unwrap_or(1);
            if t.target_group_arn() == Some(self.target_groups.blue.as_str()) {
                w.0 += weight;
            } else if t.target_group_arn() == Some(self.target_groups.green.as_str()) {
                w.1 += weight;
            }
        }
        Ok(w)
    }

    /// The production listener's forward stickiness: (enabled, duration in seconds).
    pub async fn stickiness(&self) -> anyhow::Result<Option<(bool, i32)>> {
        let out = self
            .elb()
            .describe_listeners()
            .listener_arns(&self.prod_listener)
            .send()
            .await
            .step("describe_listeners")?;
        Ok(out
            .listeners()
            .first()
            .and_then(|l| l.default_actions().first())
            .and_then(|a| a.forward_config())
            .and_then(|f| f.target_group_stickiness_config())
            .map(|s| {
                (
                    s.enabled().unwrap_or(false),
                    s.duration_seconds().unwrap_or(0),
                )
            }))
    }

    /// The production listener's tags.
    pub async fn listener_tags(&self) -> anyhow::Result<Vec<(String, String)>> {
        let out = self
            .elb()
            .describe_tags()
            .resource_arns(&self.prod_listener)
            .send()
            .await
            .step("describe_tags")?;
        Ok(out
            .tag_descriptions()
            .iter()
            .flat_map(|d| d.tags())
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect())
    }

    pub async fn tag(&self, key: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .listener_tags()
            .await?
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v))
    }

    /// Sets one tag on the production listener, as another console would.
    pub async fn set_tag(&self, key: &str, value: &str) -> anyhow::Result<()> {
        self.elb()
            .add_tags()
            .resource_arns(&self.prod_listener)
            .tags(
                aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                    .key(key)
                    .value(value)
                    .build(),
            )
            .send()
            .await
            .step("add_tags")?;
        Ok(())
    }

    /// What ECS does after UpdateService, which moto does not: the color's tasks are replaced
    /// by `desired` tasks of the service's current task definition, registered as healthy
    /// targets, and the old ones deregistered and stopped.
    pub async fn roll_out(&mut self, color: Color) -> anyhow::Result<()> {
        let ecs = self.ecs();
        let elb = self.elb();
        let service = self.services.get(color).clone();
        let out = ecs
            .describe_services()
            .cluster(&self.cluster)
            .services(&service)
            .send()
            .await
            .step("describe_services")?;
        let s = out
            .services()
            .first()
            .ok_or_else(|| anyhow::anyhow!("no service {service}"))?;
        let (td, desired) = (
            s.task_definition().unwrap_or_default().to_string(),
            s.desired_count(),
        );
        let network = s
            .network_configuration()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no network configuration"))?;
        let tg = self.target_groups.get(color).clone();
        let old = elb
            .describe_target_health()
            .target_group_arn(&tg)
            .send()
            .await
            .step("describe_target_health")?;
        let old: Vec<TargetDescription> = old
            .target_health_descriptions()
            .iter()
            .filter_map(|d| d.target().cloned())
            .collect();
        if !old.is_empty() {
            elb.deregister_targets()
                .target_group_arn(&tg)
                .set_targets(Some(old))
                .send()
                .await
                .step("deregister_targets")?;
        }
        for id in std::mem::take(self.tasks.get_mut(color)) {
            ecs.stop_task()
                .cluster(&self.cluster)
                .task(&id)
                .send()
                .await
                .step("stop_task")?;
        }
        if desired == 0 {
            return Ok(());
        }
        let run = ecs
            .run_task()
            .cluster(&self.cluster)
            .task_definition(&td)
            .count(desired)
            .launch_type(LaunchType::Fargate)
            .network_configuration(network)
            .group(format!("service:{service}"))
            .started_by("ecs-svc/bluegreen-test")
            .send()
            .await
            .step("run_task")?;
        let mut targets = Vec::new();
        for task in run.tasks() {
            let (id, ip) = task_id_and_ip(task);
            targets.extend(ip.map(|ip| TargetDescription::builder().id(ip).port(PORT).build()));
            self.tasks.get_mut(color).push(id);
        }
        elb.register_targets()
            .target_group_arn(&tg)
            .set_targets(Some(targets))
            .send()
            .await
            .step("register_targets")?;
        Ok(())
    }

    /// A service's desired count and task definition ARN.
    pub async fn service(&self, color: Color) -> anyhow::Result<(i32, String)> {
        let out = self
            .ecs()
            .describe_services()
            .cluster(&self.cluster)
            .services(self.services.get(color))
            .send()
            .await
            .step("describe_services")?;
        let s = out
            .services()
            .first()
            .ok_or_else(|| anyhow::anyhow!("no service {}", self.services.get(color)))?;
        Ok((
            s.desired_count(),
            s.task_definition().unwrap_or_default().to_string(),
        ))
    }
}

/// An `SdkConfig` for `endpoint` with moto's test credentials.
/// The console's journal table: hash key `environment`, range key `id`, on demand.
pub async fn create_journal_table(
    ddb: &aws_sdk_dynamodb::Client,
    name: &str,
) -> anyhow::Result<()> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let key = |n: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
    };
    ddb.create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("environment")?)
        .attribute_definitions(attr("id")?)
        .key_schema(key("environment", KeyType::Hash)?)
        .key_schema(key("id", KeyType::Range)?)
        .send()
        .await
        .step("create_journal_table")?;
    Ok(())
}

pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_ecs::config::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .load()
        .await
}

/// A task's id (the ARN's last segment) and the ENI address its target is registered under.
fn task_id_and_ip(task: &aws_sdk_ecs::types::Task) -> (String, Option<String>) {
    let id = task
        .task_arn()
        .and_then(|a| a.rsplit('/').next())
        .unwrap_or_default()
        .to_string();
    let ip = task
        .attachments()
        .iter()
        .flat_map(|a| a.details())
        .find(|d| d.name() == Some("privateIPv4Address"))
        .and_then(|d| d.value())
        .map(str::to_string);
    (id, ip)
}

fn listener_arn(
    listeners: &[aws_sdk_elasticloadbalancingv2::types::Listener],
) -> anyhow::Result<String> {
    listeners
        .first()
        .and_then(|l| l.listener_arn())
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("no listener ARN"))
}
