//! Drift: the listener (and what it routes) compared with what a console last wrote. A change
//! made by someone else (another client moved the weights) differs from the record, so it is
//! never mistaken for the console's own. Pure: the adapters read, this compares.

use serde::{Deserialize, Serialize};

use super::guard::{GuardRule, Refusal};
use super::split::SplitVerdict;
use super::{Color, Listener, PerColor, Snapshot, Weights};

/// What drifted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriftKind {
    /// The listener's weights are not those a console last wrote.
    Weights,
    /// The requests each color served do not follow the listener's weights.
    ObservedSplit,
    /// A color's service has another desired count than a console set (scaled by hand).
    ServiceCount,
    /// A color's service runs another task definition than a console deployed (replaced).
    TaskDefinition,
}

/// One drift, with what was recorded and what is there now, in words to show as-is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drift {
    pub kind: DriftKind,
    /// What the console wrote (or expects).
    pub recorded: String,
    /// What the platform shows.
    pub found: String,
}

impl Drift {
    pub fn describe(&self) -> String {
        match self.kind {
            DriftKind::Weights => format!(
                "weights changed outside the console: it wrote {}, the listener shows {}",
                self.recorded, self.found
            ),
            DriftKind::ObservedSplit => format!(
                "traffic does not follow the listener: it asks {}, requests show {}",
                self.recorded, self.found
            ),
            DriftKind::ServiceCount | DriftKind::TaskDefinition => self.found.clone(),
        }
    }
}

/// The listener's drift from the record. A listener no console has written (no record) has
/// nothing to drift from.
pub fn weights(listener: &Listener) -> Option<Drift> {
    let written = listener.written?;
    (written.weights != listener.weights).then(|| Drift {
        kind: DriftKind::Weights,
        recorded: written.weights.to_string(),
        found: listener.weights.to_string(),
    })
}

/// The measured split's drift from the listener's weights: only a real mismatch (too few
/// requests is not drift, just not known yet).
pub fn observed(listener_weights: Weights, verdict: &SplitVerdict) -> Option<Drift> {
    match verdict {
        SplitVerdict::Mismatch { observed, n, .. } => Some(Drift {
            kind: DriftKind::ObservedSplit,
            recorded: listener_weights.to_string(),
            found: format!("{observed} over {n} requests"),
        }),
        _ => None,
    }
}

/// Each color's service against what a console last set on it.
pub fn services(snap: &Snapshot) -> Vec<Drift> {
    let mut out = Vec::new();
    for w in &snap.listener.written_services {
        let s = &snap.colors.get(w.color).service;
        if s.desired != w.desired {
            out.push(Drift {
                kind: DriftKind::ServiceCount,
                recorded: w.desired.to_string(),
                found: format!(
                    "{} desired count changed outside the console: it set {}, the service `{}` has {}",
                    w.color, w.desired, s.name, s.desired
                ),
            });
        }
        if let Some(td) = &w.task_definition
            && *td != s.task_definition
        {
            out.push(Drift {
                kind: DriftKind::TaskDefinition,
                recorded: td.clone(),
                found: format!(
                    "{} task definition replaced outside the console: it deployed {td}, the service `{}` runs {}",
                    w.color, s.name, s.task_definition
                ),
            });
        }
    }
    out
}

/// Every drift found: the weights and the services against the record, and the traffic
/// against the weights.
pub fn find(snap: &Snapshot, split: Option<&SplitVerdict>) -> Vec<Drift> {
    let listener = &snap.listener;
    weights(listener)
        .into_iter()
        .chain(services(snap))
        .chain(split.and_then(|v| observed(listener.weights, v)))
        .collect()
}

/// What the profile says a color is: its service and task definition family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expected {
    pub service: String,
    pub task_family: String,
}

/// What `adopt` found and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adopted {
    pub stable: Color,
    /// The weights in force when it was adopted.
    pub weights: Weights,
    /// `false` when this color was already recorded (nothing to write).
    pub recorded: bool,
}

/// Checks a stack before `adopt --stable COLOR` records `stable` on it: no other color is
/// recorded, the stack's services and task families are the profile's (`expected`, when the
/// platform has a profile), and `stable` serves (a healthy target). Every mismatch is listed.
/// The listener forwarding only to the profile's two target groups is checked when it is read
/// (a forward to any other target group fails the read, naming it).
pub fn check_adopt(
    snap: &Snapshot,
    stable: Color,
    expected: Option<&PerColor<Expected>>,
) -> Result<Adopted, Refusal> {
    let weights = snap.listener.weights;
    match snap.listener.stable {
        Some(c) if c == stable => {
            return Ok(Adopted {
                stable,
                weights,
                recorded: false,
            });
        }
        Some(c) => {
            return Err(Refusal::new(
                GuardRule::StableRecorded,
                format!(
                    "{c} is already recorded as stable: adopt only records a stable color on a listener with none; promote or roll back to change it"
                ),
            ));
        }
        None => {}
    }
    let mut wrong = Vec::new();
    for (color, state) in snap.colors.iter() {
        let family = state
            .service
            .task_definition
            .rsplit_once(':')
            .map_or(state.service.task_definition.as_str(), |(f, _)| f);
        if let Some(want) = expected.map(|e| e.get(color)) {
            if state.service.name != want.service {
                wrong.push(format!(
                    "{color}'s service is `{}`, the profile names `{}`",
                    state.service.name, want.service
                ));
            }
            if family != want.task_family {
                wrong.push(format!(
                    "{color}'s service runs task family `{family}`, the profile names `{}`",
                    want.task_family
                ));
            }
        }
    }
    if snap.colors.get(stable).healthy_targets() == 0 {
        wrong.push(format!(
            "{stable} has no healthy target, so it cannot be the stable color: deploy or scale it first"
        ));
    }
    if !wrong.is_empty() {
        return Err(Refusal::new(
            GuardRule::StackMismatch,
            format!(
                "{stable} not adopted as stable: {}; fix the profile (`bluegreen init`) or the stack",
                wrong.join("; ")
            ),
        ));
    }
    Ok(Adopted {
        stable,
        weights,
        recorded: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::{Color, PerColor, Written, split};

    fn listener(weights: Weights, written: Option<Weights>) -> Snapshot {
        let mut snap = crate::rollout::tests::snap(weights, Some(Color::Blue), (2, 2), (2, 2));
        snap.listener = Listener {
            id: "l".into(),
            weights,
            stable: Some(Color::Blue),
            bake: None,
            test_color: None,
            test_id: None,
            faults: Vec::new(),
            written: written.map(|weights| Written { weights, at: 0 }),
            written_services: Vec::new(),
            guard: None,
        };
        snap
    }

    fn expected() -> PerColor<Expected> {
        PerColor::from_fn(|c| Expected {
            service: format!("blog-{c}"),
            task_family: format!("blog-{c}"),
        })
    }

    #[test]
    fn adopt_records_a_split_stack_that_matches_the_profile() {
        let s = crate::rollout::tests::snap(
            Weights::percent(70, 30).expect("valid"),
            None,
            (2, 2),
            (2, 2),
        );
        let a = check_adopt(&s, Color::Blue, Some(&expected())).expect("adopted");
        assert!(a.recorded);
        let mut again = s.clone();
        again.listener.stable = Some(Color::Blue);
        assert!(
            !check_adopt(&again, Color::Blue, None)
                .expect("same")
                .recorded
        );
        let r = check_adopt(&again, Color::Green, None).expect_err("other recorded");
        assert_eq!(r.rule, GuardRule::StableRecorded);
    }

    #[test]
    fn adopt_lists_every_mismatch() {
        let mut s = crate::rollout::tests::snap(
            Weights::percent(70, 30).expect("valid"),
            None,
            (2, 0),
            (2, 2),
        );
        s.colors.green.service.name = "tutorial-green".into();
        s.colors.green.service.task_definition = "tutorial:7".into();
        let r = check_adopt(&s, Color::Blue, Some(&expected())).expect_err("mismatch");
        assert_eq!(r.rule, GuardRule::StackMismatch);
        for part in [
            "green's service is `tutorial-green`, the profile names `blog-green`",
            "green's service runs task family `tutorial`, the profile names `blog-green`",
            "blue has no healthy target",
        ] {
            assert!(r.reason.contains(part), "{part} in {}", r.reason);
        }
    }

    #[test]
    fn a_service_scaled_by_hand_or_a_task_definition_replaced_is_drift() {
        let w = Weights::all(Color::Blue);
        let mut s = listener(w, Some(w));
        s.listener.written_services = vec![
            crate::rollout::WrittenService {
                color: Color::Blue,
                desired: 2,
                task_definition: Some("blog-blue:3".into()),
            },
            crate::rollout::WrittenService {
                color: Color::Green,
                desired: 2,
                task_definition: None,
            },
        ];
        assert!(find(&s, None).is_empty(), "as written");
        s.colors.blue.service.desired = 5;
        s.colors.blue.service.task_definition = "blog-blue:4".into();
        let d = find(&s, None);
        let kinds: Vec<DriftKind> = d.iter().map(|d| d.kind).collect();
        assert_eq!(
            kinds,
            vec![DriftKind::ServiceCount, DriftKind::TaskDefinition]
        );
        assert_eq!(
            d[0].describe(),
            "blue desired count changed outside the console: it set 2, the service `blog-blue` has 5"
        );
        assert_eq!(
            d[1].describe(),
            "blue task definition replaced outside the console: it deployed blog-blue:3, the service `blog-blue` runs blog-blue:4"
        );
    }

    #[test]
    fn weights_someone_else_wrote_are_drift_with_both_numbers() {
        let moved = Weights::percent(50, 50).expect("valid");
        let l = listener(moved, Some(Weights::all(Color::Blue)));
        let d = find(&l, None);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].kind, DriftKind::Weights);
        assert_eq!(
            d[0].describe(),
            "weights changed outside the console: it wrote blue 100 / green 0, the listener shows blue 50 / green 50"
        );
    }

    #[test]
    fn the_consoles_own_weights_and_an_unrecorded_stack_are_not_drift() {
        let w = Weights::percent(90, 10).expect("valid");
        assert!(find(&listener(w, Some(w)), None).is_empty());
        assert!(find(&listener(w, None), None).is_empty());
    }

    #[test]
    fn a_measured_mismatch_is_drift_but_too_few_requests_is_not() {
        let w = Weights::all(Color::Green);
        let l = listener(w, Some(w));
        let bad = split::judge(w, PerColor::new(100, 100));
        let d = find(&l, Some(&bad));
        assert_eq!(d.len(), 1);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].kind, DriftKind::ObservedSplit);
        assert!(d[0].found.contains("blue 50 / green 50 over 200 requests"));
        let few = split::judge(w, PerColor::new(0, 3));
        assert!(find(&l, Some(&few)).is_empty());
    }
}
