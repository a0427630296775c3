//! The real `triage` binary against the test RabbitMQ: a config with one `rmq` upstream and the
//! given connectors (id, work queue), a private store, and helpers to run commands. Shared by the
//! RabbitMQ test crates that drive the binary.

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::support::rabbitmq::Topology;

const BIN: &str = env!("CARGO_BIN_EXE_triage");

pub struct Cli {
    pub config: PathBuf,
    pub store: PathBuf,
    _dir: tempfile::TempDir,
}

impl Cli {
    /// `connectors`: (connector id, work queue) pairs on the topology's broker.
    pub fn new(t: &Topology, connectors: &[(&str, &str)]) -> Cli {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("triage.toml");
        let mut text = format!(
            "operator = \"ana@bastion\"\n[[upstream]]\nid = \"rmq\"\nkind = \"rabbitmq\"\n\
             url = \"{http}\"\namqp_url = \"{amqp}\"\nusername = \"guest\"\n\
             token_env = \"TRIAGE_TEST_RMQ_PASSWORD\"\ntimeout = \"5s\"\n",
            http = t.http,
            amqp = t.amqp,
        );
        for (id, queue) in connectors {
            text.push_str(&format!(
                "[[connector]]\nid = \"{id}\"\nupstream = \"rmq\"\nqueue = \"{queue}\"\n\
                 source = \"s\"\ndestination = \"d\"\ndirection = \"inbound\"\npurpose = \"p\"\n\
                 owner = \"maria\"\n"
            ));
        }
        text.push_str("[[person]]\nid = \"maria\"\nname = \"Maria\"\n");
        std::fs::write(&config, text).expect("config");
        let store = dir.path().join("triage.db");
        Cli {
            config,
            store,
            _dir: dir,
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .arg("--config")
            .arg(&self.config)
            .arg("--store")
            .arg(&self.store)
            .args(args)
            .env(
                "XDG_STATE_HOME",
                self.store.parent().expect("dir").join("state"),
            )
            .env("TRIAGE_TEST_RMQ_PASSWORD", "guest");
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run triage")
    }

    /// Runs and insists on success; stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "triage {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs with success; stdout as JSON lines.
    pub fn json(&self, args: &[&str]) -> Vec<serde_json::Value> {
        self.ok(args)
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    pub fn open(&self) -> triage::store::Store {
        triage::store::Store::open(&self.store).expect("store")
    }
}
