//! The `bluegreen` CLI against the seed's topology in moto: one moto server per test.

use bluegreen::ops::exit;
use bluegreen::rollout::{Color, PerColor};
use bluegreen_tests::aws::{FaultProxy, Run, Topology, TopologyOptions, run_cli};
use bluegreen_tests::moto::MotoServer;

struct Env {
    moto: MotoServer,
    proxy: FaultProxy,
    topo: Topology,
    config: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Env {
    async fn start(options: TopologyOptions, read_only: bool) -> Env {
        let moto = MotoServer::start().expect("moto_server starts");
        let proxy = FaultProxy::start(&moto.endpoint()).await.expect("proxy");
        let topo = Topology::build(&moto, &proxy.endpoint(), options)
            .await
            .expect("topology");
        let dir = tempfile::tempdir().expect("tempdir");
        let config = topo.write_config(dir.path(), read_only).expect("config");
        Env {
            moto,
            proxy,
            topo,
            config,
            _dir: dir,
        }
    }

    async fn cli(&self, args: &[&str]) -> Run {
        run_cli(&self.config, &self.proxy.env(&self.moto.env()), args).await
    }
}

#[tokio::test]
async fn status_shows_what_the_harness_built() {
    let env = Env::start(TopologyOptions::default(), false).await;
    let run = env.cli(&["status", "--json"]).await;
    run.expect_code(exit::OK);
    let doc = run.json();
    let snap = &doc["snapshot"];
    assert_eq!(
        snap["listener"]["weights"],
        serde_json::json!({"blue": 100, "green": 0})
    );
    assert_eq!(snap["listener"]["stable"], "blue");
    assert_eq!(snap["listener"]["test_color"], "green");
    assert_eq!(doc["derived"]["live"], "blue");
    assert_eq!(doc["derived"]["idle"], "green");
    for color in Color::ALL {
        let c = &snap["colors"][color.as_str()];
        assert_eq!(c["service"]["name"], env.topo.services.get(color).as_str());
        assert_eq!(c["service"]["desired"], 2);
        assert_eq!(c["service"]["task_definition"], format!("blog-{color}:1"));
        assert_eq!(c["service"]["image"]["tag"], "v1");
        let tasks: Vec<&str> = c["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .map(|t| t["id"].as_str().expect("id"))
            .collect();
        let mut want: Vec<&str> = env
            .topo
            .tasks
            .get(color)
            .iter()
            .map(String::as_str)
            .collect();
        let mut got = tasks.clone();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{color} tasks");
        let targets = c["targets"].as_array().expect("targets");
        assert_eq!(targets.len(), 2);
        assert!(
            targets
                .iter()
                .all(|t| t["health"] == "healthy" && t["task_id"].is_string()),
            "{targets:?}"
        );
    }
    let images = doc["images"].as_array().expect("images");
    assert_eq!(images.len(), 2);
    let refresh = doc["api_calls"]["refresh"].as_u64().expect("count");
    assert!(refresh <= 12, "a full refresh cost {refresh} calls");

    let human = env.cli(&["status", "--verbose"]).await;
    human.expect_code(exit::OK);
    assert!(
        human
            .stdout
            .contains("traffic  blue 100 / green 0 · at rest: blue live, green idle · stable blue"),
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains("api calls: "), "{}", human.stdout);
    println!("{}", human.stdout);
    let _ = PerColor::new(0, 0);
}
