//! Tailing both colors' logs with FilterLogEvents, incrementally. awslogs names streams
//! `PREFIX/CONTAINER/TASK_ID`: the prefix gives the color, the last segment the task.
//!
//! The cursor keeps, per log group, the newest timestamp seen and the ids of the events at that
//! timestamp (`TS|id,id`); the next read starts there and skips those ids, so no line is read
//! twice and none is re-read from the start.

use std::collections::{BTreeMap, BTreeSet};

use super::AwsPlatform;
use super::calls::Op;
use crate::platform::{LogBatch, LogCursor, PlatformResult};
use crate::rollout::{Color, LogLine, UnixMillis};

const FILTER_LOG_EVENTS: Op = Op::new("logs", "FilterLogEvents");

/// How far back a tail starts when the caller gives no `since`.
const DEFAULT_BACKLOG_MS: i64 = 15 * 60 * 1000;
/// Pages read per group and call, so a burst cannot hold the poller for long.
const MAX_PAGES: usize = 5;

struct GroupCursor {
    at: UnixMillis,
    ids: BTreeSet<String>,
}

impl GroupCursor {
    fn parse(s: &str) -> Option<Self> {
        let (at, ids) = s.split_once('|')?;
        Some(GroupCursor {
            at: at.parse().ok()?,
            ids: ids
                .split(',')
                .filter(|i| !i.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }

    fn render(&self) -> String {
        format!(
            "{}|{}",
            self.at,
            self.ids.iter().cloned().collect::<Vec<_>>().join(",")
        )
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
                .unwrap_or_else(|| GroupCursor {
                    at: cursor.since.unwrap_or(now - DEFAULT_BACKLOG_MS),
                    ids: BTreeSet::new(),
                });
            let prefix = match colors.as_slice() {
                [(_, p)] => Some(p.clone()),
                _ => None,
            };
            let mut token = None;
            let mut taken = 0;
            for _ in 0..MAX_PAGES {
                let out = self
                    .logs
                    .filter_log_events()
                    .log_group_name(&group)
                    .set_log_stream_name_prefix(prefix.clone())
                    .start_time(pos.at)
                    .limit(i32::try_from(limit.clamp(1, 10_000)).unwrap_or(10_000))
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| FILTER_LOG_EVENTS.error(&group, e))?;
                let mut newest = pos.at;
                let mut newest_ids = BTreeSet::new();
                for e in out.events() {
                    let (Some(at), Some(stream)) = (e.timestamp(), e.log_stream_name()) else {
                        continue;
                    };
                    let id = e.event_id().unwrap_or_default().to_string();
                    if at < pos.at || (at == pos.at && pos.ids.contains(&id)) {
                        continue;
                    }
                    if at > newest {
                        newest = at;
                        newest_ids.clear();
                    }
                    if at == newest {
                        newest_ids.insert(id);
                    }
                    let Some((color, _)) =
                        colors.iter().find(|(_, p)| stream.starts_with(p.as_str()))
                    else {
                        continue;
                    };
                    lines.push(LogLine {
                        color: *color,
                        task_id: stream.rsplit('/').next().unwrap_or(stream).to_string(),
                        at,
                        message: e.message().unwrap_or_default().trim_end().to_string(),
                    });
                    taken += 1;
                }
                if newest > pos.at {
                    pos = GroupCursor {
                        at: newest,
                        ids: newest_ids,
                    };
                } else {
                    pos.ids.extend(newest_ids);
                }
                token = out.next_token().map(str::to_string);
                if token.is_none() || taken >= limit {
                    break;
                }
            }
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
        let c = GroupCursor::parse("1700|a,b").expect("valid");
        assert_eq!(c.at, 1700);
        assert_eq!(c.ids.len(), 2);
        assert_eq!(c.render(), "1700|a,b");
        assert!(GroupCursor::parse("garbage").is_none());
        assert_eq!(GroupCursor::parse("5|").map(|c| c.ids.len()), Some(0));
    }

    mod proptests {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(crate::prop::config())]

            #[test]
            fn any_text_is_a_cursor_or_none(s in "\\PC{0,40}|-?[0-9]{1,20}\\|[a-z,]{0,12}") {
                if let Some(c) = GroupCursor::parse(&s) {
                    prop_assert!(c.ids.iter().all(|i| !i.is_empty() && !i.contains(',')));
                }
            }

            #[test]
            fn a_rendered_cursor_parses_back(
                at in any::<UnixMillis>(),
                ids in prop::collection::btree_set("[A-Za-z0-9]{1,20}", 0..5),
            ) {
                let back = GroupCursor::parse(&GroupCursor { at, ids: ids.clone() }.render())
                    .expect("parses");
                prop_assert_eq!((back.at, back.ids), (at, ids));
            }
        }
    }
}
