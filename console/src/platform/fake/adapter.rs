//! The [`Platform`] trait over the in-memory state: each call checks the scripted faults,
//! then reads or changes [`FakeState`] as the real adapters change the world.

use async_trait::async_trait;

// The in-memory platform's own items, and what it imports.
use super::*;

#[async_trait]
impl Platform for FakePlatform {
    fn info(&self) -> PlatformInfo {
        PlatformInfo {
            profile: "fake".into(),
            kind: PlatformKind::Local {
                state_dir: "(in memory)".into(),
                url: "http://fake.invalid/".into(),
            },
            cluster: "fake".into(),
            finishes_bake: self.state().finishes_bake,
            metrics_resolution_ms: 1,
            metrics_per_period: false,
        }
    }

    async fn snapshot(&self) -> PlatformResult<Snapshot> {
        let mut s = self.state();
        self.enter(&mut s, Call::Snapshot)?;
        let listener = self.read_listener(&mut s);
        Ok(Snapshot {
            taken_at: 0,
            listener,
            colors: PerColor::from_fn(|c| Self::color_state(&s, c)),
            api_calls: 1,
            stale: Vec::new(),
        })
    }

    async fn listener(&self) -> PlatformResult<Listener> {
        let mut s = self.state();
        self.enter(&mut s, Call::Listener)?;
        Ok(self.read_listener(&mut s))
    }

    async fn target_health(&self, color: Color) -> PlatformResult<Vec<TargetState>> {
        let mut s = self.state();
        self.enter(&mut s, Call::TargetHealth(color))?;
        Ok(targets(color, s.services.get(color)))
    }

    async fn builds(&self, limit: usize) -> PlatformResult<Vec<Build>> {
        let mut s = self.state();
        self.enter(&mut s, Call::Builds)?;
        Ok(s.builds.iter().take(limit).cloned().collect())
    }

    async fn start_build(&self, source_version: Option<String>) -> PlatformResult<Build> {
        let mut s = self.state();
        self.enter(&mut s, Call::StartBuild)?;
        let build = Build {
            id: format!("fake-build-{}", s.builds.len() + 1),
            number: Some(s.builds.len() as u64 + 1),
            status: BuildStatus::InProgress,
            source_version,
            resolved_source: None,
            started_at: Some(0),
            ended_at: None,
            phases: Vec::new(),
            log_location: None,
            exported: Vec::new(),
        };
        s.builds.insert(0, build.clone());
        Ok(build)
    }

    async fn images(&self) -> PlatformResult<Vec<Image>> {
        let mut s = self.state();
        self.enter(&mut s, Call::Images)?;
        Ok(s.images.clone())
    }

    async fn deploy(&self, color: Color, tag: &str, desired: u32) -> PlatformResult<DeployReceipt> {
        let mut s = self.state();
        self.enter(
            &mut s,
            Call::Deploy {
                color,
                tag: tag.into(),
                desired,
            },
        )?;
        if !s.images.iter().any(|i| i.tags.iter().any(|t| t == tag)) {
            return Err(PlatformError::call(
                "fake:deploy",
                format!("blog:{tag}"),
                FaultKind::NotFound,
                format!("no image is tagged `{tag}`"),
            ));
        }
        let auto = s.auto_healthy;
        let svc = s.services.get_mut(color);
        svc.revision += 1;
        svc.tag = Some(tag.into());
        svc.desired = desired;
        svc.healthy = if auto { desired } else { 0 };
        Ok(DeployReceipt {
            color,
            tag: tag.into(),
            task_definition: format!("blog-{color}:{}", svc.revision),
            revision: svc.revision,
            image: format!("blog:{tag}"),
            desired,
        })
    }

    async fn scale(&self, color: Color, desired: u32) -> PlatformResult<()> {
        let mut s = self.state();
        self.enter(&mut s, Call::Scale { color, desired })?;
        let auto = s.auto_healthy;
        let svc = s.services.get_mut(color);
        svc.desired = desired;
        svc.healthy = if auto {
            desired
        } else {
            svc.healthy.min(desired)
        };
        Ok(())
    }

    async fn set_weights(&self, desired: Weights) -> WeightChange {
        let mut s = self.state();
        let previous = Some(s.listener.weights);
        if let Err(e) = self.enter(&mut s, Call::SetWeights(desired)) {
            return WeightChange {
                previous,
                desired,
                observed: previous,
                write_error: Some(e),
                read_error: None,
            };
        }
        let mut write_error = None;
        if self.scripted(&mut s, &Fault::WeightWriteFails) {
            write_error = Some(PlatformError::call(
                "fake:set-weights",
                "fake-listener",
                FaultKind::Throttled,
                "scripted write failure",
            ));
        } else if !self.scripted(&mut s, &Fault::WeightNotApplied) {
            s.listener.weights = desired;
        }
        if write_error.is_none() {
            s.listener.written = Some(crate::rollout::Written {
                weights: desired,
                at: crate::clock::now_millis(),
            });
        }
        if self.scripted(&mut s, &Fault::ReadBackFails) {
            return WeightChange {
                previous,
                desired,
                observed: None,
                write_error,
                read_error: Some(PlatformError::call(
                    "fake:listener",
                    "fake-listener",
                    FaultKind::Timeout,
                    "scripted read-back failure",
                )),
            };
        }
        WeightChange {
            previous,
            desired,
            observed: Some(s.listener.weights),
            write_error,
            read_error: None,
        }
    }

    async fn record_stable(&self, stable: Color, bake: Option<Bake>) -> PlatformResult<()> {
        let mut s = self.state();
        self.enter(
            &mut s,
            Call::RecordStable {
                stable,
                bake: bake.clone(),
            },
        )?;
        s.listener.stable = Some(stable);
        s.listener.bake = bake;
        Ok(())
    }

    async fn point_test_listener(&self, color: Color) -> PlatformResult<()> {
        let mut s = self.state();
        self.enter(&mut s, Call::PointTestListener(color))?;
        s.listener.test_color = Some(color);
        Ok(())
    }

    async fn read_logs(&self, cursor: &LogCursor, limit: usize) -> PlatformResult<LogBatch> {
        let mut s = self.state();
        self.enter(&mut s, Call::ReadLogs)?;
        let from = cursor
            .streams
            .get("fake")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or_else(|| {
                let since = cursor.since.unwrap_or(UnixMillis::MIN);
                s.logs
                    .iter()
                    .position(|l| l.at >= since)
                    .unwrap_or(s.logs.len())
            });
        let lines: Vec<LogLine> = s
            .logs
            .iter()
            .skip(from)
            .take(limit.min(FAKE_LOG_BATCH))
            .cloned()
            .collect();
        let mut next = cursor.clone();
        next.streams
            .insert("fake".into(), (from + lines.len()).to_string());
        Ok(LogBatch {
            lines,
            cursor: next,
        })
    }

    async fn metrics(&self, _window_secs: u64) -> PlatformResult<Option<PerColor<ColorMetrics>>> {
        let mut s = self.state();
        self.enter(&mut s, Call::Metrics)?;
        let weights = s.routed.unwrap_or(s.listener.weights);
        Ok(s.metrics.as_ref().map(|m| split_by(m, weights)))
    }

    async fn release(&self) -> PlatformResult<Option<Release>> {
        let mut s = self.state();
        self.enter(&mut s, Call::Release)?;
        Ok(s.release.clone())
    }

    async fn record_release(&self, release: &Release) -> PlatformResult<()> {
        let mut s = self.state();
        self.enter(&mut s, Call::RecordRelease)?;
        // What every platform keeps: one release at a time, and an ended one stays ended.
        crate::rollout::release::check_record(s.release.as_ref(), release).map_err(|r| {
            PlatformError::call("record-release", "release", FaultKind::Invalid, r.reason)
        })?;
        s.release = Some(release.clone());
        s.release_history.push(release.clone());
        Ok(())
    }

    async fn smoke_get(
        &self,
        path: &str,
        _timeout: std::time::Duration,
    ) -> PlatformResult<SmokeAnswer> {
        let mut s = self.state();
        self.enter(&mut s, Call::SmokeGet(path.to_string()))?;
        Ok(s.smoke
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, a)| a.clone())
            .unwrap_or(SmokeAnswer {
                status: 200,
                body: "ok".into(),
                latency_ms: 1,
            }))
    }

    async fn alarms(&self, names: &[String]) -> PlatformResult<Vec<(String, AlarmState)>> {
        let mut s = self.state();
        self.enter(&mut s, Call::Alarms)?;
        Ok(names
            .iter()
            .map(|n| {
                let state = s
                    .alarms
                    .iter()
                    .find(|(a, _)| a == n)
                    .map_or(AlarmState::Missing, |(_, st)| *st);
                (n.clone(), state)
            })
            .collect())
    }

    fn api_calls(&self) -> u64 {
        self.api_calls.load(Ordering::Relaxed)
    }

    async fn journal_append(&self, entry: &Entry) -> PlatformResult<()> {
        let mut s = self.state();
        if s.journal_fails {
            return Err(PlatformError::call(
                "fake:journal-append",
                "journal",
                FaultKind::Other,
                "injected journal failure",
            ));
        }
        s.journal.push(entry.clone());
        Ok(())
    }

    async fn journal_read(&self, query: &Query) -> PlatformResult<JournalPage> {
        let entries = journal::select(self.state().journal.clone(), query);
        Ok(JournalPage {
            entries,
            ..JournalPage::default()
        })
    }

    async fn lock_read(&self) -> PlatformResult<Option<LockRecord>> {
        let mut s = self.state();
        self.enter(&mut s, Call::LockRead)?;
        Ok(s.lock.clone())
    }

    async fn lock_swap(
        &self,
        expected: Option<&str>,
        new: Option<&LockRecord>,
    ) -> PlatformResult<LockSwap> {
        let mut s = self.state();
        self.enter(&mut s, Call::LockSwap)?;
        Ok(if lock::swap_in_place(&mut s.lock, expected, new) {
            LockSwap::Swapped
        } else {
            LockSwap::Conflict
        })
    }
}
