//! A real Prometheus server (Debian's `prometheus` package) scraping spanflow, and the Grafana
//! dashboard's panels with their queries, for tests that check what the dashboard would show.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::kafka::free_port;

/// Where the dashboard lives in the repository.
pub const DASHBOARD: &str = "deploy/grafana/spanflow-dashboard.json";

/// A Prometheus server scraping one target every second, killed on drop.
pub struct Prometheus {
    child: Child,
    addr: String,
    log: PathBuf,
}

/// One panel of the dashboard: its title, place, unit and queries.
#[derive(Clone, Debug)]
pub struct Panel {
    pub title: String,
    /// Grafana's `gridPos` (x, y, w, h in grid units; 24 columns).
    pub grid_pos: Value,
    /// Grafana's unit id (`s`, `bytes`, `mps`, ...).
    pub unit: String,
    /// The y axis's logarithm base, when it is logarithmic.
    pub log_scale: Option<u64>,
    pub targets: Vec<Target>,
}

/// One query of a panel, with Grafana's variables replaced.
#[derive(Clone, Debug)]
pub struct Target {
    pub expr: String,
    /// Grafana's legend template (`{{label}}` placeholders).
    pub legend: String,
}

impl Prometheus {
    /// The `prometheus` binary on `PATH`; `None` when it is missing, which fails the test
    /// instead when `SPANFLOW_REQUIRE_PROMETHEUS=1` (as CI sets).
    pub fn binary() -> Option<PathBuf> {
        let found = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("prometheus"))
                .find(|p| p.is_file())
        });
        if found.is_none() {
            assert!(
                std::env::var("SPANFLOW_REQUIRE_PROMETHEUS").as_deref() != Ok("1"),
                "SPANFLOW_REQUIRE_PROMETHEUS=1 but prometheus is not installed (apt-get install prometheus)"
            );
        }
        found
    }

    /// A server in `dir` (its config, data and log) scraping `target` as job `job` every
    /// second; `None` without the binary (see [`Prometheus::binary`]).
    pub fn start(dir: &Path, job: &str, target: &str) -> Option<Prometheus> {
        let binary = Self::binary()?;
        std::fs::create_dir_all(dir).unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{ scrape_interval: 1s, evaluation_interval: 1s }}\n\
                 scrape_configs:\n  - job_name: {job}\n    static_configs: [{{ targets: [\"{target}\"] }}]\n"
            ),
        )
        .unwrap();
        let log = dir.join("prometheus.log");
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Some(Prometheus { child, addr, log })
    }

    /// The server's log, for a failure's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET /api/v1/<path>` with `params`: the decoded answer, `Null` when there is none.
    fn api(&self, path: &str, params: &[(&str, &str)]) -> Value {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let mut request = agent.get(&format!("http://{}/api/v1/{path}", self.addr));
        for (k, v) in params {
            request = request.query(*k, *v);
        }
        request
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .and_then(|b| serde_json::from_str(&b).ok())
            .unwrap_or(Value::Null)
    }

    /// An instant query.
    pub fn query(&self, expr: &str) -> Value {
        self.api("query", &[("query", expr)])
    }

    /// A range query from `start` to `end` (Unix seconds) every `step` seconds.
    pub fn query_range(&self, expr: &str, start: f64, end: f64, step: f64) -> Value {
        let (start, end, step) = (start.to_string(), end.to_string(), step.to_string());
        self.api(
            "query_range",
            &[
                ("query", expr),
                ("start", &start),
                ("end", &end),
                ("step", &step),
            ],
        )
    }

    /// Waits until job `job` has been scraped `scrapes` times within the last minute.
    pub fn wait_for_scrapes(&self, job: &str, scrapes: f64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let up = self.query(&format!(r#"count_over_time(up{{job="{job}"}}[1m])"#));
            let samples = up["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0);
            if samples >= scrapes {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus did not scrape {job}: {up}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The dashboard's panels, with `$job` and `$__rate_interval` replaced as Grafana would for
/// one job.
pub fn dashboard_panels(root: &Path, job: &str, rate_interval: &str) -> Vec<Panel> {
    let text = std::fs::read_to_string(root.join(DASHBOARD)).unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|panel| Panel {
            title: panel["title"].as_str().unwrap().to_owned(),
            grid_pos: panel["gridPos"].clone(),
            unit: panel["fieldConfig"]["defaults"]["unit"]
                .as_str()
                .unwrap_or("short")
                .to_owned(),
            log_scale: {
                let scale = &panel["fieldConfig"]["defaults"]["custom"]["scaleDistribution"];
                (scale["type"] == "log").then(|| scale["log"].as_u64().unwrap_or(10))
            },
            targets: panel["targets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| Target {
                    expr: t["expr"]
                        .as_str()
                        .unwrap()
                        .replace("$__rate_interval", rate_interval)
                        .replace("$job", job),
                    legend: t["legendFormat"].as_str().unwrap_or("").to_owned(),
                })
                .collect(),
        })
        .collect()
}
