//! Tailing both colors' logs with FilterLogEvents, incrementally. awslogs names streams
//! `PREFIX/CONTAINER/TASK_ID`: the prefix gives the color, the last segment the task.
//!
//! Lines arrive late and out of order across streams: the awslogs driver ships each task's
//! lines in batches (Docker's driver every 5 s, or when a batch fills), each line stamped when
//! the container wrote it, and CloudWatch makes a batch searchable a few seconds after
//! PutLogEvents. So a line of task B stamped before the newest visible line of task A may
//! become visible after it. A cursor at "the newest timestamp seen" would skip it for good.
//!
//! The cursor therefore keeps, per log group, the newest timestamp seen and the event ids of
//! the last [`LATE_WINDOW_MS`]; each read starts that far before the newest line (never before
//! the tail's start) and skips the ids it already gave. A line that becomes visible up to
//! [`LATE_WINDOW_MS`] after a newer line of another stream is shown once, late; one later
//! than that is missed (six of awslogs' 5 s flushes, with room for a retried PutLogEvents).
//! The TUI and `logs --follow` both read through here.

use std::collections::BTreeMap;

use super::AwsPlatform;
use super::calls::Op;
use crate::platform::{LogBatch, LogCursor, PlatformResult};
use crate::rollout::{Color, LogLine, UnixMillis};

const FILTER_LOG_EVENTS: Op = Op::new("logs", "FilterLogEvents");

/// How far back a tail starts when the caller gives no `since`.
const DEFAULT_BACKLOG_MS: i64 = 15 * 60 * 1000;
/// Pages read per group and call, so a burst cannot hold the poller for long.
const MAX_PAGES: usize = 5;
/// How late a line may become visible, after a newer line of another stream, and still be
/// shown: each read re-reads this much before the newest line it saw (see the module's doc).
pub const LATE_WINDOW_MS: i64 = 30_000;
/// Event ids kept per group: beyond this (a burst of over this many lines in the window) the
/// oldest are forgotten, which can show a line twice but never hides one.
const MAX_SEEN: usize = 20_000;

/// A group's position: the newest timestamp seen, the tail's start, and the ids given within
/// the late window (id → timestamp).
#[derive(Debug, Clone, PartialEq)]
struct GroupCursor {
    newest: UnixMillis,
    floor: UnixMillis,
    seen: BTreeMap<String, UnixMillis>,
}

impl GroupCursor {
    fn new(since: UnixMillis) -> Self {
        GroupCursor {
            newest: since,
            floor: since,
            seen: BTreeMap::new(),
        }
    }

    /// `NEWEST|FLOOR|id@at,id@at`
    fn parse(s: &str) -> Option<Self> {
        let mut parts = s.splitn(3, '|');
        let newest = parts.next()?.parse().ok()?;
        let floor = parts.next()?.parse().ok()?;
        let mut seen = BTreeMap::new();
        for item in parts.next()?.split(',').filter(|i| !i.is_empty()) {
            let (id, at) = item.rsplit_once('@')?;
            if id.is_empty() {
                return None;
            }
            seen.insert(id.to_string(), at.parse().ok()?);
        }
        Some(GroupCursor {
            newest,
            floor,
            seen,
        })
    }

    fn render(&self) -> String {
        let seen: Vec<String> = self
            .seen
            .iter()
            .map(|(id, at)| format!("{id}@{at}"))
            .collect();
        format!("{}|{}|{}", self.newest, self.floor, seen.join(","))
    }

    /// Where the next read starts: the late window before the newest line, never before the
    /// tail's start.
    fn start(&self) -> UnixMillis {
        self.newest.saturating_sub(LATE_WINDOW_MS).max(self.floor)
    }

    /// Whether the event is new (and remembers it).
    fn admit(&mut self, id: &str, at: UnixMillis) -> bool {
        if at < self.floor || self.seen.contains_key(id) {
            return false;
        }
        self.seen.insert(id.to_string(), at);
        self.newest = self.newest.max(at);
        true
    }

    /// Forgets the ids the next read cannot meet again, and the oldest beyond [`MAX_SEEN`].
    fn prune(&mut self) {
        let start = self.start();
        self.seen.retain(|_, at| *at >= start);
        if self.seen.len() > MAX_SEEN {
            let mut ats: Vec<UnixMillis> = self.seen.values().copied().collect();
            ats.sort_unstable();
            let cut = ats[self.seen.len() - MAX_SEEN];
            self.seen.retain(|_, at| *at >= cut);
        }
    }
}

impl AwsPlatform {
    pub(super) async fn read_log_lines(
        &self,
        cursor: &LogCursor,
        limit: usize,
    ) -> PlatformResult<LogBatch> {
        // Colors sharing a group are read with one call.
        let mut groups: BTreeMap<String, Vec<(Color, String)>> = BTreeMap::new();
        for (color, res) in self.cfg.colors.iter() {
            groups
                .entry(res.log_group.clone())
                .or_default()
                .push((color, format!("{}/", res.log_stream_prefix)));
        }
        let now = crate::clock::now_millis();
        let mut next = cursor.clone();
        let mut lines = Vec::new();
        for (group, colors) in groups {
            let mut pos = cursor
                .streams
                .get(&group)
                .and_then(|s| GroupCursor::parse(s))
                .unwrap_or_else(|| {
                    GroupCursor::new(cursor.since.unwrap_or(now - DEFAULT_BACKLOG_MS))
                });
            let prefix = match colors.as_slice() {
                [(_, p)] => Some(p.clone()),
                _ => None,
            };
            let start = pos.start();
            let mut token = None;
            let mut taken = 0;
            for _ in 0..MAX_PAGES {
                let out = self
                    .logs
                    .filter_log_events()
                    .log_group_name(&group)
                    .set_log_stream_name_prefix(prefix.clone())
                    .start_time(start)
                    .limit(i32::try_from(limit.clamp(1, 10_000)).unwrap_or(10_000))
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| FILTER_LOG_EVENTS.error(&group, e))?;
                for e in out.events() {
                    let (Some(at), Some(stream)) = (e.timestamp(), e.log_stream_name()) else {
                        continue;
                    };
                    let Some((color, _)) =
                        colors.iter().find(|(_, p)| stream.starts_with(p.as_str()))
                    else {
                        continue;
                    };
                    // No id (never from CloudWatch): the stream and time stand in for it.
                    let id = match e.event_id() {
                        Some(id) => id.to_string(),
                        None => format!("{stream}#{at}"),
                    };
                    if !pos.admit(&id, at) {
                        continue;
                    }
                    lines.push(LogLine {
                        color: *color,
                        task_id: stream.rsplit('/').next().unwrap_or(stream).to_string(),
                        at,
                        message: e.message().unwrap_or_default().trim_end().to_string(),
                    });
                    taken += 1;
                }
                token = out.next_token().map(str::to_string);
                if token.is_none() || taken >= limit {
                    break;
                }
            }
            pos.prune();
            next.streams.insert(group, pos.render());
        }
        lines.sort_by_key(|l| l.at);
        Ok(LogBatch {
            lines,
            cursor: next,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let mut c = GroupCursor::new(1000);
        assert!(c.admit("a", 1700));
        assert!(c.admit("b", 1500));
        let back = GroupCursor::parse(&c.render()).expect("valid");
        assert_eq!(back, c);
        assert_eq!(c.render(), "1700|1000|a@1700,b@1500");
        assert!(GroupCursor::parse("garbage").is_none());
        assert!(GroupCursor::parse("5|1|").is_some_and(|c| c.seen.is_empty()));
    }

    #[test]
    fn a_late_line_older_than_the_newest_is_admitted_once() {
        let mut c = GroupCursor::new(0);
        assert!(c.admit("a2", 100_000));
        // Task B's line, stamped 20 s before A's newest, arrives after it.
        assert!(
            c.start() <= 80_000,
            "the next read reaches back: {}",
            c.start()
        );
        assert!(c.admit("b1", 80_000));
        assert!(!c.admit("b1", 80_000), "shown once");
        c.prune();
        assert!(
            !c.admit("a2", 100_000),
            "still remembered within the window"
        );
        // Lines before the tail's start are not wanted.
        let mut since = GroupCursor::new(50_000);
        assert!(!since.admit("old", 49_999));
    }

    #[test]
    fn pruning_forgets_only_what_the_next_read_cannot_meet() {
        let mut c = GroupCursor::new(0);
        c.admit("old", 1_000);
        c.admit("new", 100_000);
        c.prune();
        assert_eq!(c.seen.keys().collect::<Vec<_>>(), ["new"]);
        let mut many = GroupCursor::new(0);
        for i in 0..(MAX_SEEN as i64 + 10) {
            many.admit(&format!("e{i}"), 1_000_000 + i);
        }
        many.prune();
        assert!(many.seen.len() <= MAX_SEEN);
        assert!(many.seen.contains_key(&format!("e{}", MAX_SEEN as i64 + 9)));
    }

    mod proptests {
        use super::*;
        use proptest::prelude::*;
        use std::collections::BTreeSet;

        proptest! {
            #![proptest_config(crate::prop::config())]

            #[test]
            fn any_text_is_a_cursor_or_none(s in "\\PC{0,40}|-?[0-9]{1,20}\\|[0-9]{1,5}\\|[a-z@0-9,]{0,12}") {
                if let Some(c) = GroupCursor::parse(&s) {
                    prop_assert!(c.seen.keys().all(|i| !i.is_empty() && !i.contains(',')));
                }
            }

            #[test]
            fn a_rendered_cursor_parses_back(
                at in 0i64..i64::MAX / 2,
                ids in prop::collection::btree_set("[A-Za-z0-9]{1,20}", 0..5),
            ) {
                let mut c = GroupCursor::new(0);
                for id in &ids {
                    c.admit(id, at);
                }
                let back = GroupCursor::parse(&c.render()).expect("parses");
                prop_assert_eq!(back, c);
            }

            #[test]
            fn every_event_is_given_once_whatever_the_arrival_order(
                events in prop::collection::vec((0i64..LATE_WINDOW_MS, 0u8..3), 1..40),
            ) {
                // Lines of three streams, visible in any order within the late window, each
                // met again by the overlapping reads that follow.
                let mut c = GroupCursor::new(0);
                let mut given = BTreeSet::new();
                for (i, (at, _)) in events.iter().enumerate() {
                    prop_assert!(*at >= c.start(), "the read reaches it");
                    for (seen, (at, _)) in events.iter().enumerate().take(i + 1) {
                        let id = format!("e{seen}");
                        if c.admit(&id, *at) {
                            prop_assert!(given.insert(id));
                        }
                    }
                    c.prune();
                }
                prop_assert_eq!(given.len(), events.len());
            }
        }
    }
}
