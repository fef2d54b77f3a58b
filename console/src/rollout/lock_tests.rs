use super::*;

fn op(name: &str, host: &str) -> Operator {
    Operator::new(name, host).expect("valid")
}

const T0: UnixMillis = 1_800_000_000_000;

fn asker<'a>(me: &'a Operator, now: UnixMillis, token: &'a str) -> Asker<'a> {
    Asker {
        me,
        reason: Some("shift change"),
        now,
        token,
    }
}

fn held_by(who: &Operator, hold: Hold, expires: UnixMillis) -> LockRecord {
    LockRecord {
        holder: who.clone(),
        hold,
        purpose: "lock take".into(),
        reason: Some("db migration".into()),
        since: T0,
        renewed: T0,
        expires,
        token: "t-old".into(),
        taken_over_from: None,
        handed_over_from: None,
    }
}

#[test]
fn a_free_lock_is_acquired_for_one_write_with_a_short_lease() {
    let alice = op("alice", "laptop");
    let d = decide(
        None,
        &asker(&alice, T0, "t1"),
        Intent::Write {
            verb: "shift",
            release: None,
        },
    );
    let Decision::Acquire { record, expired } = d else {
        panic!("{d:?}")
    };
    assert_eq!(expired, None);
    assert_eq!(record.holder, alice);
    assert_eq!(record.hold, Hold::Write);
    assert_eq!(record.purpose, "shift");
    assert_eq!(record.expires, T0 + WRITE_LEASE_MS);
    assert_eq!(record.token, "t1");
    assert_eq!(record.reason.as_deref(), Some("shift change"));
}

#[test]
fn someone_elses_live_lease_refuses_with_who_since_where_why_and_until() {
    let alice = op("alice", "laptop");
    let bob = op("bob", "desk");
    let r = held_by(&alice, Hold::Explicit, T0 + DEFAULT_TAKE_MS);
    let d = decide(
        Some(&r),
        &asker(&bob, T0 + 60_000, "t2"),
        Intent::Write {
            verb: "promote",
            release: None,
        },
    );
    let Decision::Refuse(refusal) = d else {
        panic!("{d:?}")
    };
    assert_eq!(refusal.rule, GuardRule::Locked);
    assert!(!refusal.overridable, "--force never overrides the lock");
    let m = refusal.reason;
    for part in [
        "`promote` refused",
        "alice@laptop",
        "since 2027-01-15T08:00:00Z (1m00s ago)",
        "\"db migration\"",
        "lease ends 2027-01-15T12:00:00Z",
        "Ask alice",
        "lock hand-over --to bob",
        "rollback` is never blocked",
    ] {
        assert!(m.contains(part), "{part:?} missing from {m}");
    }
}

#[test]
fn the_same_person_proceeds_from_another_host() {
    let alice = op("alice", "laptop");
    let alice_jump = op("alice", "jump-host");
    let r = held_by(&alice, Hold::Explicit, T0 + DEFAULT_TAKE_MS);
    assert_eq!(
        decide(
            Some(&r),
            &asker(&alice_jump, T0 + 1, "t2"),
            Intent::Write {
                verb: "shift",
                release: None,
            }
        ),
        Decision::Proceed
    );
}

#[test]
fn my_lease_that_would_end_mid_write_is_renewed_not_replaced() {
    let alice = op("alice", "laptop");
    let r = held_by(&alice, Hold::Explicit, T0 + 10_000);
    let d = decide(
        Some(&r),
        &asker(&alice, T0, "t2"),
        Intent::Write {
            verb: "shift",
            release: None,
        },
    );
    let Decision::Renew(rec) = d else {
        panic!("{d:?}")
    };
    assert_eq!(rec.hold, Hold::Explicit, "an explicit hold stays explicit");
    assert_eq!(rec.since, T0);
    assert_eq!(rec.expires, T0 + WRITE_LEASE_MS);
    assert_eq!(rec.token, "t2");
}

#[test]
fn the_expiry_boundary_allows_for_clock_skew() {
    let alice = op("alice", "laptop");
    let bob = op("bob", "desk");
    let end = T0 + 1000;
    let r = held_by(&alice, Hold::Write, end);
    let write = Intent::Write {
        verb: "shift",
        release: None,
    };
    // At the expiry and up to the skew allowance after it, still alice's.
    for now in [end - 1, end, end + MAX_SKEW_MS - 1] {
        assert!(
            matches!(
                decide(Some(&r), &asker(&bob, now, "t"), write),
                Decision::Refuse(_)
            ),
            "at {now}"
        );
    }
    // From the allowance on, free: acquired, naming the ended lease.
    let d = decide(Some(&r), &asker(&bob, end + MAX_SKEW_MS, "t"), write);
    let Decision::Acquire { record, expired } = d else {
        panic!("{d:?}")
    };
    assert_eq!(record.holder, bob);
    assert_eq!(expired.map(|e| e.holder), Some(alice));
}

#[test]
fn rollback_takes_a_live_lease_over_and_says_whose() {
    let alice = op("alice", "laptop");
    let bob = op("bob", "desk");
    let r = held_by(&alice, Hold::Driver, T0 + 60_000);
    let d = decide(Some(&r), &asker(&bob, T0 + 5, "t9"), Intent::Rollback);
    let Decision::TakeOver { record, previous } = d else {
        panic!("{d:?}")
    };
    assert_eq!(previous, r);
    assert_eq!(record.holder, bob);
    assert_eq!(record.hold, Hold::Rollback);
    assert_eq!(record.taken_over_from, Some(alice.clone()));
    assert_eq!(record.expires, T0 + 5 + TAKEOVER_LEASE_MS);
    assert_eq!(
        taken_over_notice(Some(&record), &alice).as_deref(),
        Some("lock taken over by bob@desk for a rollback at 08:00:00")
    );
    assert_eq!(taken_over_notice(Some(&record), &bob), None);
    assert_eq!(taken_over_notice(Some(&r), &alice), None);
}

#[test]
fn rollback_on_a_free_lock_or_my_own_is_an_ordinary_write() {
    let alice = op("alice", "laptop");
    let d = decide(None, &asker(&alice, T0, "t"), Intent::Rollback);
    assert!(
        matches!(&d, Decision::Acquire { record, .. } if record.hold == Hold::Write && record.purpose == "rollback"),
        "{d:?}"
    );
    let mine = held_by(&alice, Hold::Explicit, T0 + DEFAULT_TAKE_MS);
    assert_eq!(
        decide(Some(&mine), &asker(&alice, T0, "t"), Intent::Rollback),
        Decision::Proceed
    );
}

#[test]
fn take_is_bounded_and_refused_while_someone_else_holds_it() {
    let alice = op("alice", "laptop");
    let bob = op("bob", "desk");
    let d = decide(
        None,
        &asker(&alice, T0, "t"),
        Intent::Take {
            lease_ms: 100 * MAX_TAKE_MS,
        },
    );
    assert!(
        matches!(&d, Decision::Acquire { record, .. } if record.expires == T0 + MAX_TAKE_MS && record.hold == Hold::Explicit),
        "{d:?}"
    );
    let r = held_by(&alice, Hold::Write, T0 + 1000);
    assert!(matches!(
        decide(
            Some(&r),
            &asker(&bob, T0, "t"),
            Intent::Take {
                lease_ms: DEFAULT_TAKE_MS
            }
        ),
        Decision::Refuse(_)
    ));
    // Taking my own turns it into an explicit hold with the new lease.
    let d = decide(
        Some(&r),
        &asker(&alice, T0, "t3"),
        Intent::Take {
            lease_ms: DEFAULT_TAKE_MS,
        },
    );
    let Decision::Renew(rec) = d else {
        panic!("{d:?}")
    };
    assert_eq!(
        (rec.hold, rec.expires, rec.token.as_str()),
        (Hold::Explicit, T0 + DEFAULT_TAKE_MS, "t3")
    );
}

#[test]
fn a_driver_renews_its_lease_and_an_ended_one_is_taken_by_resume() {
    let alice = op("alice", "laptop");
    let bob = op("bob", "desk");
    let lease = driver_lease_ms(20_000);
    assert_eq!(lease, MIN_DRIVER_LEASE_MS);
    assert_eq!(driver_lease_ms(i64::MAX), MAX_DRIVER_LEASE_MS);
    let drive = Intent::Drive {
        release: "r-7",
        lease_ms: lease,
    };
    let Decision::Acquire { record, .. } = decide(None, &asker(&alice, T0, "t1"), drive) else {
        panic!("acquire")
    };
    assert_eq!(record.purpose, "release r-7");
    // Half the lease left: nothing to write; less than that: renewed.
    assert_eq!(
        decide(Some(&record), &asker(&alice, T0 + lease / 2, "t2"), drive),
        Decision::Proceed
    );
    let later = T0 + lease / 2 + 1;
    let Decision::Renew(renewed) = decide(Some(&record), &asker(&alice, later, "t2"), drive) else {
        panic!("renew")
    };
    assert_eq!(renewed.expires, later + lease);
    assert_eq!(renewed.since, T0);
    // Bob's resume is refused while the lease runs, naming the driver and what to wait for.
    let d = decide(Some(&renewed), &asker(&bob, later + 1, "t3"), drive);
    let Decision::Refuse(r) = d else {
        panic!("{d:?}")
    };
    assert!(r.reason.contains("`bluegreen resume` then takes"), "{r}");
    // Alice's laptop closed: the lease ends, status says so, and bob's resume takes it.
    let gone = renewed.expires + MAX_SKEW_MS;
    assert_eq!(
        driver_gone(Some(&renewed), gone).as_deref(),
        Some(
            "release r-7 driven by alice@laptop, lease expired at 2027-01-15T08:01:30Z: `bluegreen resume` takes it over"
        )
    );
    assert_eq!(driver_gone(Some(&renewed), later), None);
    let d = decide(Some(&renewed), &asker(&bob, gone, "t4"), drive);
    assert!(
        matches!(&d, Decision::Acquire { record, expired: Some(e) } if record.holder == bob && e.holder == alice),
        "{d:?}"
    );
}

#[test]
fn a_write_inside_my_release_keeps_the_drivers_hold() {
    let alice = op("alice", "laptop");
    let mut r = held_by(&alice, Hold::Driver, T0 + 60_000);
    r.purpose = "release r-7".into();
    let d = decide(
        Some(&r),
        &asker(&alice, T0, "t"),
        Intent::Write {
            verb: "shift",
            release: Some("r-7"),
        },
    );
    let Decision::Renew(rec) = d else {
        panic!("{d:?}")
    };
    assert_eq!(
        (rec.hold, rec.purpose.as_str()),
        (Hold::Driver, "release r-7")
    );
    assert_eq!(rec.expires, T0 + WRITE_LEASE_MS);
    r.expires = T0 + WRITE_LEASE_MS + 1;
    assert_eq!(
        decide(
            Some(&r),
            &asker(&alice, T0, "t"),
            Intent::Write {
                verb: "shift",
                release: Some("r-7"),
            }
        ),
        Decision::Proceed
    );
}

#[test]
fn release_is_the_holders_and_force_frees_anyones() {
    let alice = op("alice", "laptop");
    let bob = op("bob", "desk");
    let r = held_by(&alice, Hold::Explicit, T0 + DEFAULT_TAKE_MS);
    let me = |who, now| asker(who, now, "t");
    assert_eq!(
        decide(None, &me(&bob, T0), Intent::Release { force: false }),
        Decision::Proceed
    );
    assert_eq!(
        decide(Some(&r), &me(&alice, T0), Intent::Release { force: false }),
        Decision::Free { forced: None }
    );
    let d = decide(Some(&r), &me(&bob, T0), Intent::Release { force: false });
    assert!(
        matches!(&d, Decision::Refuse(x) if x.reason.contains("lock release --force")),
        "{d:?}"
    );
    assert_eq!(
        decide(Some(&r), &me(&bob, T0), Intent::Release { force: true }),
        Decision::Free {
            forced: Some(r.clone())
        }
    );
    // An ended lease is anyone's to clear, without --force.
    assert_eq!(
        decide(
            Some(&r),
            &me(&bob, r.expires + MAX_SKEW_MS),
            Intent::Release { force: false }
        ),
        Decision::Free { forced: None }
    );
}

#[test]
fn hand_over_is_the_holders_and_names_both() {
    let alice = op("alice", "laptop");
    let bob = op("bob", "any-host");
    let carol = op("carol", "x");
    let r = held_by(&alice, Hold::Explicit, T0 + DEFAULT_TAKE_MS);
    let d = decide(
        Some(&r),
        &asker(&alice, T0 + 5, "t5"),
        Intent::HandOver { to: &bob },
    );
    let Decision::Renew(rec) = d else {
        panic!("{d:?}")
    };
    assert_eq!(rec.holder, bob);
    assert_eq!(rec.handed_over_from, Some(alice.clone()));
    assert_eq!(rec.expires, r.expires);
    assert!(rec.describe(T0 + 5).contains("handed over by alice@laptop"));
    // Bob then writes from his own host.
    let bob_desk = op("bob", "desk");
    assert_eq!(
        decide(
            Some(&rec),
            &asker(&bob_desk, T0 + 6, "t"),
            Intent::Write {
                verb: "shift",
                release: None,
            }
        ),
        Decision::Proceed
    );
    assert!(matches!(
        decide(
            Some(&r),
            &asker(&carol, T0, "t"),
            Intent::HandOver { to: &bob }
        ),
        Decision::Refuse(_)
    ));
    assert!(matches!(
        decide(None, &asker(&alice, T0, "t"), Intent::HandOver { to: &bob }),
        Decision::Refuse(_)
    ));
}

#[test]
fn leases_parse_within_bounds() {
    assert_eq!(parse_lease("4h"), Ok(4 * 3_600_000));
    assert_eq!(parse_lease("1h30m"), Ok(90 * 60_000));
    assert_eq!(parse_lease(" 90m "), Ok(90 * 60_000));
    for bad in [
        "",
        "4",
        "h",
        "10s",
        "25h",
        "4x",
        "99999999999999999h",
        "1h 2m",
    ] {
        let e = parse_lease(bad).expect_err(bad);
        assert!(e.contains("between 1m00s and 1d00h"), "{e}");
    }
}

#[test]
fn records_from_outside_are_bounded() {
    let alice = op("alice", "laptop");
    let mut r = held_by(&alice, Hold::Write, T0 + 1);
    assert_eq!(r.validate(), Ok(()));
    r.token = "x".repeat(MAX_TOKEN + 1);
    assert!(r.validate().is_err());
    r.token = "t".into();
    r.expires = T0 - 1;
    assert!(r.validate().is_err());
}

#[test]
fn records_round_trip_as_json() {
    let alice = op("alice", "laptop");
    let r = held_by(&alice, Hold::Driver, T0 + 1);
    let json = serde_json::to_string(&r).expect("json");
    assert!(json.contains(r#""hold":"driver""#), "{json}");
    assert_eq!(serde_json::from_str::<LockRecord>(&json).expect("parse"), r);
}

#[test]
fn a_write_by_hand_during_my_own_release_is_refused_but_rollback_is_not() {
    let alice = op("alice", "laptop");
    let mut r = held_by(&alice, Hold::Driver, T0 + 60_000);
    r.purpose = "release r-7".into();
    for release in [None, Some("r-6")] {
        let d = decide(
            Some(&r),
            &asker(&alice, T0, "t"),
            Intent::Write {
                verb: "shift",
                release,
            },
        );
        let Decision::Refuse(refusal) = d else {
            panic!("{release:?}: {d:?}")
        };
        assert_eq!(refusal.rule, GuardRule::ReleaseRunning);
        for part in ["`shift` refused", "release r-7", "abort", "rollback"] {
            assert!(refusal.reason.contains(part), "{part:?}: {refusal}");
        }
    }
    assert!(matches!(
        decide(Some(&r), &asker(&alice, T0, "t"), Intent::Rollback),
        Decision::Renew(_)
    ));
}
