//! The production listener (weights, stable color and bake in its tags), the test listener,
//! and target health. Rollback depends only on this module.

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, Tag, TargetGroupTuple, TargetHealthStateEnum,
};

use super::AwsPlatform;
use super::calls::Op;
use crate::platform::{FaultKind, PlatformError, PlatformResult, WeightChange};
use crate::rollout::{
    Bake, Color, Listener, TargetHealth, TargetState, Weights, Written, WrittenService,
};

pub const TAG_STABLE: &str = "bluegreen:stable";
pub const TAG_BAKE_OLD: &str = "bluegreen:bake-old";
pub const TAG_BAKE_UNTIL: &str = "bluegreen:bake-until";
pub const TAG_KEEP_OLD: &str = "bluegreen:keep-old";
/// The weights a console last wrote and when: `BLUE/GREEN@MILLIS`, per mille
/// (`900/100@1764763200000`). Drift is any other weights on the listener.
pub const TAG_WRITTEN: &str = "bluegreen:weights";

/// What a console last set on a color's service: `bluegreen:service-blue =
/// DESIRED[@FAMILY:REVISION]`.
pub fn service_tag_key(color: Color) -> String {
    format!("bluegreen:service-{color}")
}

/// The service tag's value.
pub fn service_tag(w: &WrittenService) -> String {
    match &w.task_definition {
        Some(td) => format!("{}@{td}", w.desired),
        None => w.desired.to_string(),
    }
}

/// Parses a service tag; `None` when it is not one.
pub fn parse_service_tag(color: Color, v: &str) -> Option<WrittenService> {
    let (desired, td) = match v.split_once('@') {
        Some((d, td)) if !td.is_empty() => (d, Some(td.to_string())),
        Some(_) => return None,
        None => (v, None),
    };
    Some(WrittenService {
        color,
        desired: desired.parse().ok()?,
        task_definition: td,
    })
}

/// The [`TAG_WRITTEN`] value of `w`.
pub fn written_tag(w: &Written) -> String {
    format!(
        "{}/{}@{}",
        w.weights.get(Color::Blue),
        w.weights.get(Color::Green),
        w.at
    )
}

/// Parses a [`TAG_WRITTEN`] value; `None` when it is not one (a hand-edited tag is no record).
pub fn parse_written_tag(v: &str) -> Option<Written> {
    let (weights, at) = v.split_once('@')?;
    let (blue, green) = weights.split_once('/')?;
    Some(Written {
        weights: Weights::permille(blue.parse().ok()?, green.parse().ok()?).ok()?,
        at: at.parse().ok()?,
    })
}

const DESCRIBE_LISTENERS: Op = Op::new("elbv2", "DescribeListeners");
const DESCRIBE_TAGS: Op = Op::new("elbv2", "DescribeTags");
const DESCRIBE_TARGET_HEALTH: Op = Op::new("elbv2", "DescribeTargetHealth");
const MODIFY_LISTENER: Op = Op::new("elbv2", "ModifyListener");
const ADD_TAGS: Op = Op::new("elbv2", "AddTags");
const REMOVE_TAGS: Op = Op::new("elbv2", "RemoveTags");

impl AwsPlatform {
    /// The default actions of the given listeners, by ARN; remembered for the next write.
    async fn describe_listeners(
        &self,
        arns: Vec<String>,
    ) -> PlatformResult<Vec<(String, Vec<Action>)>> {
        let resource = arns.join(", ");
        let out = self
            .elb
            .describe_listeners()
            .set_listener_arns(Some(arns))
            .send()
            .await
            .map_err(|e| DESCRIBE_LISTENERS.error(&resource, e))?;
        let listeners: Vec<(String, Vec<Action>)> = out
            .listeners()
            .iter()
            .map(|l| {
                (
                    l.listener_arn().unwrap_or_default().to_string(),
                    l.default_actions().to_vec(),
                )
            })
            .collect();
        if let Ok(mut seen) = self.last_actions.lock() {
            for (arn, actions) in &listeners {
                seen.insert(arn.clone(), actions.clone());
            }
        }
        Ok(listeners)
    }

    /// The weights a listener's forward action gives the colors.
    fn weights_in(&self, listener: &str, actions: &[Action]) -> PlatformResult<Weights> {
        let forward = actions
            .iter()
            .find(|a| a.r#type() == Some(&ActionTypeEnum::Forward));
        self.weights_of(
            listener,
            forward.and_then(|a| a.forward_config()),
            forward.and_then(|a| a.target_group_arn()),
        )
    }

    /// The colors' shares in a forward action, normalised to percent.
    fn weights_of(
        &self,
        listener: &str,
        forward: Option<&ForwardActionConfig>,
        single: Option<&str>,
    ) -> PlatformResult<Weights> {
        let mut raw = [0u32; 2];
        let mut seen = false;
        let tuples: Vec<(String, u32)> = match (forward, single) {
            (Some(f), _) if !f.target_groups().is_empty() => f
                .target_groups()
                .iter()
                .map(|t| {
                    (
                        t.target_group_arn().unwrap_or_default().to_string(),
                        // ELB treats a missing weight as 1 (an equal share).
                        u32::try_from(t.weight().unwrap_or(1)).unwrap_or(0),
                    )
                })
                .collect(),
            (_, Some(tg)) => vec![(tg.to_string(), 1)],
            _ => Vec::new(),
        };
        for (arn, weight) in tuples {
            match self.color_of_target_group(&arn) {
                Some(c) => {
                    raw[match c {
                        Color::Blue => 0,
                        Color::Green => 1,
                    }] += weight;
                    seen = true;
                }
                None if weight > 0 => {
                    return Err(DESCRIBE_LISTENERS.fail(
                        listener,
                        FaultKind::Invalid,
                        format!("the listener forwards to {arn}, which is neither color's target group in the profile"),
                    ));
                }
                None => {}
            }
        }
        if !seen {
            return Err(DESCRIBE_LISTENERS.fail(
                listener,
                FaultKind::Invalid,
                "the listener has no weighted forward action to the blue and green target groups",
            ));
        }
        Weights::from_ratio(raw[0], raw[1])
            .map_err(|e| DESCRIBE_LISTENERS.fail(listener, FaultKind::Invalid, e.to_string()))
    }

    fn color_of_target_group(&self, arn: &str) -> Option<Color> {
        Color::ALL
            .into_iter()
            .find(|c| self.cfg.colors.get(*c).target_group == arn)
    }

    /// The production listener's weights alone (one call): the read-back of a weight change.
    pub(super) async fn read_weights(&self) -> PlatformResult<Weights> {
        let arn = self.prod_listener.clone();
        let listeners = self.describe_listeners(vec![arn.clone()]).await?;
        let (_, actions) = listeners
            .into_iter()
            .find(|(a, _)| *a == arn)
            .ok_or_else(|| {
                DESCRIBE_LISTENERS.fail(&arn, FaultKind::NotFound, "listener not found")
            })?;
        self.weights_in(&arn, &actions)
    }

    /// Listener, test listener and tags: two calls, made concurrently.
    pub(super) async fn read_listener(&self) -> PlatformResult<Listener> {
        let mut arns = vec![self.prod_listener.clone()];
        arns.extend(self.test_listener.clone());
        let tags = async {
            self.elb
                .describe_tags()
                .resource_arns(self.prod_listener.clone())
                .send()
                .await
                .map_err(|e| DESCRIBE_TAGS.error(&self.prod_listener, e))
        };
        let (listeners, tags) = tokio::join!(self.describe_listeners(arns), tags);
        let (listeners, tags) = (listeners?, tags?);
        let mut weights = None;
        let mut test_color = None;
        for (arn, actions) in &listeners {
            if *arn == self.prod_listener {
                weights = Some(self.weights_in(arn, actions)?);
            } else if Some(arn) == self.test_listener.as_ref() {
                test_color = self.weights_in(arn, actions).ok().and_then(Weights::live);
            }
        }
        let weights = weights.ok_or_else(|| {
            DESCRIBE_LISTENERS.fail(
                &self.prod_listener,
                FaultKind::NotFound,
                "listener not found",
            )
        })?;
        let tag = |key: &str| {
            tags.tag_descriptions()
                .iter()
                .flat_map(|d| d.tags())
                .find(|t| t.key() == Some(key))
                .and_then(|t| t.value())
                .map(str::to_string)
        };
        let stable = tag(TAG_STABLE).and_then(|v| v.parse::<Color>().ok());
        let bake = match (
            tag(TAG_BAKE_OLD).and_then(|v| v.parse::<Color>().ok()),
            tag(TAG_BAKE_UNTIL).and_then(|v| v.parse::<i64>().ok()),
        ) {
            (Some(old), Some(until)) => Some(Bake {
                old,
                until,
                keep_old: tag(TAG_KEEP_OLD).as_deref() == Some("true"),
            }),
            _ => None,
        };
        Ok(Listener {
            id: self.prod_listener.clone(),
            weights,
            stable,
            bake,
            test_color,
            test_id: self.test_listener.clone(),
            faults: Vec::new(),
            written: tag(TAG_WRITTEN).as_deref().and_then(parse_written_tag),
            written_services: Color::ALL
                .into_iter()
                .filter_map(|c| {
                    tag(&service_tag_key(c))
                        .as_deref()
                        .and_then(|v| parse_service_tag(c, v))
                })
                .collect(),
            guard: None,
        })
    }

    pub(super) async fn read_target_health(
        &self,
        color: Color,
    ) -> PlatformResult<Vec<TargetState>> {
        let tg = &self.cfg.colors.get(color).target_group;
        let out = self
            .elb
            .describe_target_health()
            .target_group_arn(tg)
            .send()
            .await
            .map_err(|e| DESCRIBE_TARGET_HEALTH.error(tg, e))?;
        Ok(out
            .target_health_descriptions()
            .iter()
            .map(|d| {
                let target = d.target();
                let id = match (target.and_then(|t| t.id()), target.and_then(|t| t.port())) {
                    (Some(id), Some(port)) => format!("{id}:{port}"),
                    (Some(id), None) => id.to_string(),
                    _ => String::new(),
                };
                let health = d.target_health();
                let reason = health.and_then(|h| match (h.reason(), h.description()) {
                    (Some(r), Some(d)) => Some(format!("{}: {d}", r.as_str())),
                    (Some(r), None) => Some(r.as_str().to_string()),
                    (None, Some(d)) => Some(d.to_string()),
                    (None, None) => None,
                });
                TargetState {
                    id,
                    task_id: None,
                    health: match health.and_then(|h| h.state()) {
                        Some(TargetHealthStateEnum::Healthy) => TargetHealth::Healthy,
                        Some(TargetHealthStateEnum::Initial) => TargetHealth::Initial,
                        Some(TargetHealthStateEnum::Unused) => TargetHealth::Unused,
                        Some(TargetHealthStateEnum::Draining)
                        | Some(TargetHealthStateEnum::UnhealthyDraining) => TargetHealth::Draining,
                        Some(TargetHealthStateEnum::Unavailable) => TargetHealth::Unavailable,
                        _ => TargetHealth::Unhealthy,
                    },
                    reason,
                }
            })
            .collect())
    }

    /// The listener's default actions with the forward action's weights replaced: other
    /// actions (authentication, say), their order and the stickiness setting stay as last read.
    fn actions_with(&self, listener: &str, weights: &[(Color, u16)]) -> Vec<Action> {
        let mut actions = self
            .last_actions
            .lock()
            .ok()
            .and_then(|seen| seen.get(listener).cloned())
            .unwrap_or_default();
        let i = match actions
            .iter()
            .position(|a| a.r#type() == Some(&ActionTypeEnum::Forward))
        {
            Some(i) => i,
            None => {
                actions.push(Action::builder().r#type(ActionTypeEnum::Forward).build());
                actions.len() - 1
            }
        };
        let old = &actions[i];
        let stickiness = old
            .forward_config()
            .and_then(|f| f.target_group_stickiness_config().cloned());
        let mut forward =
            ForwardActionConfig::builder().set_target_group_stickiness_config(stickiness);
        for (color, weight) in weights {
            forward = forward.target_groups(
                TargetGroupTuple::builder()
                    .target_group_arn(&self.cfg.colors.get(*color).target_group)
                    .weight(i32::from(*weight))
                    .build(),
            );
        }
        actions[i] = Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .set_order(old.order())
            .forward_config(forward.build())
            .build();
        actions
    }

    /// One ModifyListener, then one read-back, whatever the write did.
    pub(super) async fn write_weights(&self, desired: Weights) -> WeightChange {
        let previous = self
            .last_actions
            .lock()
            .ok()
            .and_then(|seen| seen.get(&self.prod_listener).cloned())
            .and_then(|actions| self.weights_in(&self.prod_listener, &actions).ok());
        // An ALB takes 0..=999 per target group: per mille fits, except 1000 for all.
        let alb = desired.to_ratio(999);
        let actions = self.actions_with(
            &self.prod_listener,
            &[(Color::Blue, alb.0), (Color::Green, alb.1)],
        );
        let write_error = self
            .elb
            .modify_listener()
            .listener_arn(&self.prod_listener)
            .set_default_actions(Some(actions))
            .send()
            .await
            .err()
            .map(|e| MODIFY_LISTENER.error(&self.prod_listener, e));
        let (observed, read_error) = match self.read_weights().await {
            Ok(w) => (Some(w), None),
            Err(e) => (None, Some(e)),
        };
        // After the weights are in force (never on their critical path): what this console
        // wrote, so every console tells its own change from someone else's.
        if write_error.is_none() {
            let written = Written {
                weights: desired,
                at: crate::clock::now_millis(),
            };
            self.record_written(TAG_WRITTEN, written_tag(&written), "weights written")
                .await;
        }
        WeightChange {
            previous,
            desired,
            observed,
            write_error,
            read_error,
        }
    }

    pub(super) async fn write_stable(
        &self,
        stable: Color,
        bake: Option<Bake>,
    ) -> PlatformResult<()> {
        let tag = |k: &str, v: String| Tag::builder().key(k).value(v).build();
        let mut tags = vec![tag(TAG_STABLE, stable.to_string())];
        if let Some(b) = &bake {
            tags.push(tag(TAG_BAKE_OLD, b.old.to_string()));
            tags.push(tag(TAG_BAKE_UNTIL, b.until.to_string()));
            tags.push(tag(TAG_KEEP_OLD, b.keep_old.to_string()));
        }
        self.elb
            .add_tags()
            .resource_arns(&self.prod_listener)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| ADD_TAGS.error(&self.prod_listener, e))?;
        if bake.is_none() {
            self.elb
                .remove_tags()
                .resource_arns(&self.prod_listener)
                .tag_keys(TAG_BAKE_OLD)
                .tag_keys(TAG_BAKE_UNTIL)
                .tag_keys(TAG_KEEP_OLD)
                .send()
                .await
                .map_err(|e| REMOVE_TAGS.error(&self.prod_listener, e))?;
        }
        Ok(())
    }

    /// Records what this console set on a color's service, after the write (a failure is a
    /// warning: `status` then shows drift until the next write).
    pub(super) async fn record_service(&self, w: WrittenService) {
        let what = format!("{} service set", w.color);
        self.record_written(&service_tag_key(w.color), service_tag(&w), &what)
            .await;
    }

    /// Puts one "what a console last wrote" tag on the production listener. A failure is a
    /// warning naming `what` was done: `status` then shows drift until the next write.
    async fn record_written(&self, key: &str, value: String, what: &str) {
        let tag = Tag::builder().key(key).value(value).build();
        if let Err(e) = self
            .elb
            .add_tags()
            .resource_arns(&self.prod_listener)
            .tags(tag)
            .send()
            .await
        {
            tracing::warn!(
                "{what}, but not recorded as written (status may show drift): {}",
                ADD_TAGS.error(&self.prod_listener, e)
            );
        }
    }

    pub(super) async fn write_test_listener(&self, color: Color) -> PlatformResult<()> {
        let Some(test) = &self.test_listener else {
            return Ok(());
        };
        let (blue, green) = match color {
            Color::Blue => (1, 0),
            Color::Green => (0, 1),
        };
        let actions = self.actions_with(test, &[(Color::Blue, blue), (Color::Green, green)]);
        self.elb
            .modify_listener()
            .listener_arn(test)
            .set_default_actions(Some(actions))
            .send()
            .await
            .map_err(|e| MODIFY_LISTENER.error(test, e))?;
        Ok(())
    }
}

/// Resolves `NAME:PORT` to a listener ARN (two calls, once, when connecting).
pub(crate) async fn resolve(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    load_balancer: &str,
    port: u16,
) -> PlatformResult<String> {
    const DESCRIBE_LOAD_BALANCERS: Op = Op::new("elbv2", "DescribeLoadBalancers");
    let lb_arn = if load_balancer.starts_with("arn:") {
        load_balancer.to_string()
    } else {
        let out = elb
            .describe_load_balancers()
            .names(load_balancer)
            .send()
            .await
            .map_err(|e| DESCRIBE_LOAD_BALANCERS.error(load_balancer, e))?;
        out.load_balancers()
            .first()
            .and_then(|l| l.load_balancer_arn())
            .map(str::to_string)
            .ok_or_else(|| {
                DESCRIBE_LOAD_BALANCERS.fail(
                    load_balancer,
                    FaultKind::NotFound,
                    "no such load balancer",
                )
            })?
    };
    let out = elb
        .describe_listeners()
        .load_balancer_arn(&lb_arn)
        .send()
        .await
        .map_err(|e| DESCRIBE_LISTENERS.error(&lb_arn, e))?;
    out.listeners()
        .iter()
        .find(|l| l.port() == Some(i32::from(port)))
        .and_then(|l| l.listener_arn())
        .map(str::to_string)
        .ok_or_else(|| {
            PlatformError::call(
                DESCRIBE_LISTENERS.label(),
                lb_arn,
                FaultKind::NotFound,
                format!("the load balancer has no listener on port {port}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_tag_round_trips_and_refuses_junk() {
        let w = Written {
            weights: Weights::permille(999, 1).expect("valid"),
            at: 1_764_763_200_000,
        };
        assert_eq!(written_tag(&w), "999/1@1764763200000");
        assert_eq!(parse_written_tag(&written_tag(&w)), Some(w));
        for junk in ["", "90/10", "900/200@1", "a/b@c", "900/100@", "1000/0@x"] {
            assert_eq!(parse_written_tag(junk), None, "{junk}");
        }
    }

    #[test]
    fn the_service_tag_round_trips_and_refuses_junk() {
        for w in [
            WrittenService {
                color: Color::Green,
                desired: 3,
                task_definition: Some("blog-green:7".into()),
            },
            WrittenService {
                color: Color::Blue,
                desired: 0,
                task_definition: None,
            },
        ] {
            assert_eq!(
                parse_service_tag(w.color, &service_tag(&w)),
                Some(w.clone())
            );
        }
        assert_eq!(service_tag_key(Color::Blue), "bluegreen:service-blue");
        for junk in ["", "x", "2@", "-1@a:1"] {
            assert_eq!(parse_service_tag(Color::Blue, junk), None, "{junk}");
        }
    }
}
