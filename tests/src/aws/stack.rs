//! One test's whole AWS stand-in: a moto server, the repairing/fault-injecting proxy in front of
//! it, the seed's topology, and a `bluegreen.toml` for it.

use std::path::{Path, PathBuf};

use bluegreen::config::{ConfigFile, Target};
use bluegreen::platform::aws::AwsPlatform;

use super::{FaultProxy, Run, Topology, TopologyOptions, run_cli};
use crate::moto::MotoServer;

pub struct Stack {
    pub moto: MotoServer,
    pub proxy: FaultProxy,
    pub topo: Topology,
    /// `bluegreen.toml` with one profile, `moto`.
    pub config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Stack {
    /// Starts moto and the proxy and builds the topology; the proxy's log starts empty.
    pub async fn start(options: TopologyOptions, read_only: bool) -> Stack {
        let moto = MotoServer::start().expect("moto_server starts");
        let proxy = FaultProxy::start(&moto.endpoint()).await.expect("proxy");
        let topo = Topology::build(&moto, &proxy.endpoint(), options)
            .await
            .expect("topology");
        let dir = tempfile::tempdir().expect("tempdir");
        let config = topo.write_config(dir.path(), read_only).expect("config");
        proxy.reset_log();
        Stack {
            moto,
            proxy,
            topo,
            config,
            _dir: dir,
        }
    }

    /// The CLI's environment: moto's credentials, the proxy as the endpoint.
    pub fn env(&self) -> Vec<(String, String)> {
        self.proxy.env(&self.moto.env())
    }

    /// `bluegreen --config bluegreen.toml ARGS…`
    pub async fn cli(&self, args: &[&str]) -> Run {
        run_cli(&self.config, &self.env(), args).await
    }

    /// ModifyListener calls that addressed the production listener since the last reset.
    pub fn prod_modifies(&self) -> usize {
        let needle = format!("ListenerArn={}", self.topo.prod_listener);
        self.proxy
            .bodies("ModifyListener")
            .iter()
            .filter(|b| b.contains(&needle))
            .count()
    }

    /// The adapter as a library, for a profile text (normally [`Topology::profile_toml`]).
    pub async fn adapter_for(&self, profile_toml: &str) -> Result<AwsPlatform, String> {
        let file = ConfigFile::parse(Path::new("bluegreen.toml"), profile_toml)
            .map_err(|e| e.to_string())?;
        let profile = file.profile(None).map_err(|e| e.to_string())?;
        let Target::Aws(cfg) = &profile.target else {
            return Err("not an AWS profile".into());
        };
        AwsPlatform::with_sdk_config(&profile.name, cfg, &self.topo.sdk)
            .await
            .map_err(|e| e.to_string())
    }

    /// The adapter for this topology.
    pub async fn adapter(&self) -> AwsPlatform {
        self.adapter_for(&self.topo.profile_toml("moto", false))
            .await
            .expect("adapter")
    }
}
