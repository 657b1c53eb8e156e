//! A throwaway Redis Sentinel deployment for integration tests: one
//! master, one replica and three sentinels.
//!
//! [`RedisSentinel::start`] runs the master and a replica (`--replicaof`)
//! from [`RedisServer`], then three sentinels (`redis-server sentinel.conf
//! --sentinel`, each with its configuration in its own temporary directory)
//! monitoring the master as [`SERVICE`] with a quorum of 2,
//! `down-after-milliseconds 1000` and `failover-timeout 5000`. It returns
//! once the replica is in sync and every sentinel sees the replica and the
//! two other sentinels, so that [`failover`](RedisSentinel::failover) works
//! at once. Each test starts its own deployment (a failover changes it for
//! everyone); dropping it kills all five processes, and they die with the
//! test process anyway.
//!
//! ```no_run
//! use cache_tests::redis_sentinel::RedisSentinel;
//!
//! let deployment = RedisSentinel::start();
//! let url = deployment.url(); // redis+sentinel://127.0.0.1:<s1>,…/mymaster/0
//! let old = deployment.master_port();
//! deployment.failover();
//! let new = deployment.wait_for_new_master(old, std::time::Duration::from_secs(20));
//! assert_ne!(old, new);
//! ```

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::redis_server::{redis_cli, Mode, RedisServer};

/// The name the sentinels monitor the master under.
pub const SERVICE: &str = "mymaster";

/// How long the deployment may take to settle after start.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(20);

/// The number of sentinels.
const SENTINELS: usize = 3;

/// A master, its replica and three sentinels. Dropping it kills them.
///
/// ```no_run
/// let deployment = cache_tests::redis_sentinel::RedisSentinel::start();
/// assert_eq!(deployment.sentinels().len(), 3);
/// ```
#[derive(Debug)]
pub struct RedisSentinel {
    /// The master, then the replica, as started (a failover swaps roles).
    servers: [RedisServer; 2],
    sentinels: Vec<RedisServer>,
    /// `redis-cli` arguments that authenticate to the data servers, and
    /// to the sentinels.
    auth: [Vec<String>; 2],
}

impl RedisSentinel {
    /// Starts the deployment and waits until it is ready for a failover.
    ///
    /// # Panics
    ///
    /// If a process does not start, or the deployment does not settle
    /// within 20 seconds.
    ///
    /// ```no_run
    /// let deployment = cache_tests::redis_sentinel::RedisSentinel::start();
    /// ```
    pub fn start() -> Self {
        Self::launch(None, None)
    }

    /// Like [`start`](Self::start), with passwords: `master_password` on
    /// both data servers (`requirepass`, and `masterauth` to replicate;
    /// `sentinel auth-pass` for the sentinels), `sentinel_password` on the
    /// sentinels (`requirepass`, also what they use with each other).
    /// [`url`](Self::url) carries no password; the harness's own
    /// `redis-cli` calls authenticate, calls through [`RedisServer::cli`]
    /// must pass `-a`.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    ///
    /// ```no_run
    /// let deployment = cache_tests::redis_sentinel::RedisSentinel::start_with_passwords("data-pw", "sentinel-pw");
    /// ```
    pub fn start_with_passwords(master_password: &str, sentinel_password: &str) -> Self {
        Self::launch(Some(master_password), Some(sentinel_password))
    }

    fn launch(master_password: Option<&str>, sentinel_password: Option<&str>) -> Self {
        let mut data_args: Vec<&str> = Vec::new();
        if let Some(password) = master_password {
            data_args.extend(["--requirepass", password, "--masterauth", password]);
        }
        let master = RedisServer::start_linked(Mode::Standalone, &data_args);
        let master_port = master.port().to_string();
        let mut replica_args = vec!["--replicaof", "127.0.0.1", &master_port];
        replica_args.extend(&data_args);
        let replica = RedisServer::start_linked(Mode::Standalone, &replica_args);
        let mut config = format!(
            "sentinel monitor {SERVICE} 127.0.0.1 {master_port} 2\n\
             sentinel down-after-milliseconds {SERVICE} 1000\n\
             sentinel failover-timeout {SERVICE} 5000\n"
        );
        if let Some(password) = master_password {
            let _ = writeln!(config, "sentinel auth-pass {SERVICE} {password}");
        }
        if let Some(password) = sentinel_password {
            let _ = writeln!(config, "requirepass {password}");
        }
        let auth = |password: Option<&str>| {
            password.map_or_else(Vec::new, |password| {
                vec![
                    "-a".to_owned(),
                    password.to_owned(),
                    "--no-auth-warning".to_owned(),
                ]
            })
        };
        let sentinels = (0..SENTINELS)
            .map(|_| {
                RedisServer::start_linked(
                    Mode::Sentinel {
                        config: config.clone(),
                    },
                    &[],
                )
            })
            .collect();
        let deployment = Self {
            servers: [master, replica],
            sentinels,
            auth: [auth(master_password), auth(sentinel_password)],
        };
        deployment.wait_until_settled();
        deployment
    }

    /// `redis+sentinel://127.0.0.1:<s1>,127.0.0.1:<s2>,127.0.0.1:<s3>/mymaster/0`.
    ///
    /// ```no_run
    /// let deployment = cache_tests::redis_sentinel::RedisSentinel::start();
    /// assert!(deployment.url().ends_with("/mymaster/0"));
    /// ```
    pub fn url(&self) -> String {
        let sentinels: Vec<String> = self
            .sentinels
            .iter()
            .map(|sentinel| format!("127.0.0.1:{}", sentinel.port()))
            .collect();
        format!("redis+sentinel://{}/{SERVICE}/0", sentinels.join(","))
    }

    /// The sentinels.
    ///
    /// ```no_run
    /// let deployment = cache_tests::redis_sentinel::RedisSentinel::start();
    /// let first = &deployment.sentinels()[0];
    /// println!("{}", first.cli(&["SENTINEL", "masters"]));
    /// ```
    pub fn sentinels(&self) -> &[RedisServer] {
        &self.sentinels
    }

    /// The data servers: the first started as master, the second as its
    /// replica.
    ///
    /// ```no_run
    /// let deployment = cache_tests::redis_sentinel::RedisSentinel::start();
    /// let [first, second] = deployment.servers();
    /// ```
    pub fn servers(&self) -> &[RedisServer; 2] {
        &self.servers
    }

    /// The data server listening on `port`.
    ///
    /// # Panics
    ///
    /// If neither does.
    ///
    /// ```no_run
    /// let deployment = cache_tests::redis_sentinel::RedisSentinel::start();
    /// let master = deployment.server(deployment.master_port());
    /// ```
    pub fn server(&self, port: u16) -> &RedisServer {
        self.servers
            .iter()
            .find(|server| server.port() == port)
            .unwrap_or_else(|| panic!("no data server of this deployment listens on {port}"))
    }

    /// Kills the data server listening on `port` (`SIGKILL`, like a
    /// crash), as [`RedisServer::stop`].
    ///
    /// # Panics
    ///
    /// If no data server of this deployment listens on `port`.
    ///
    /// ```no_run
    /// let mut deployment = cache_tests::redis_sentinel::RedisSentinel::start();
    /// let master = deployment.master_port();
    /// deployment.stop(master); // the sentinels fail over after about 2 s
    /// ```
    pub fn stop(&mut self, port: u16) {
        self.servers
            .iter_mut()
            .find(|server| server.port() == port)
            .unwrap_or_else(|| panic!("no data server of this deployment listens on {port}"))
            .stop();
    }

    /// The master's port, as the first sentinel names it.
    ///
    /// # Panics
    ///
    /// If the sentinel names no master.
    ///
    /// ```no_run
    /// let deployment = cache_tests::redis_sentinel::RedisSentinel::start();
    /// assert_eq!(deployment.master_port(), deployment.servers()[0].port());
    /// ```
    pub fn master_port(&self) -> u16 {
        self.master_port_by(&self.sentinels[0])
            .expect("the sentinel names no master")
    }

    /// Starts a failover (`SENTINEL FAILOVER mymaster` on the first
    /// sentinel): the replica is promoted without waiting for the master
    /// to fail. Returns at once; see
    /// [`wait_for_new_master`](Self::wait_for_new_master).
    ///
    /// # Panics
    ///
    /// If the sentinel refuses.
    ///
    /// ```no_run
    /// let deployment = cache_tests::redis_sentinel::RedisSentinel::start();
    /// deployment.failover();
    /// ```
    pub fn failover(&self) {
        let reply = self.cli(&self.sentinels[0], &["SENTINEL", "FAILOVER", SERVICE]);
        assert_eq!(reply, "OK", "SENTINEL FAILOVER refused");
    }

    /// Waits until every sentinel names a master other than `old_port`,
    /// and that server answers `ROLE` as a master; returns its port.
    ///
    /// # Panics
    ///
    /// If that does not happen within `timeout`.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let deployment = cache_tests::redis_sentinel::RedisSentinel::start();
    /// let old = deployment.master_port();
    /// deployment.failover();
    /// let new = deployment.wait_for_new_master(old, Duration::from_secs(20));
    /// ```
    pub fn wait_for_new_master(&self, old_port: u16, timeout: Duration) -> u16 {
        let deadline = Instant::now() + timeout;
        loop {
            let named: Vec<Option<u16>> = self
                .sentinels
                .iter()
                .map(|sentinel| self.master_port_by(sentinel))
                .collect();
            if let Some(Some(port)) = named.first() {
                if *port != old_port
                    && named.iter().all(|p| *p == Some(*port))
                    && self.cli_port(*port, &["ROLE"]).starts_with("master")
                {
                    return *port;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the sentinels did not all name a new master within {timeout:?}: {named:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis-cli` against one of the processes, authenticated.
    fn cli(&self, process: &RedisServer, args: &[&str]) -> String {
        self.cli_port(process.port(), args)
    }

    fn cli_port(&self, port: u16, args: &[&str]) -> String {
        let is_sentinel = self.sentinels.iter().any(|s| s.port() == port);
        let auth = &self.auth[usize::from(is_sentinel)];
        let mut all: Vec<&str> = auth.iter().map(String::as_str).collect();
        all.extend_from_slice(args);
        redis_cli(port, &all)
    }

    fn master_port_by(&self, sentinel: &RedisServer) -> Option<u16> {
        self.cli(sentinel, &["SENTINEL", "get-master-addr-by-name", SERVICE])
            .lines()
            .nth(1)?
            .parse()
            .ok()
    }

    /// Waits until the replica is in sync and every sentinel knows it and
    /// the other sentinels.
    fn wait_until_settled(&self) {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        let others = (SENTINELS - 1).to_string();
        loop {
            let replica = self.cli(&self.servers[1], &["INFO", "replication"]);
            let synced = replica.contains("master_link_status:up");
            let views: Vec<String> = self
                .sentinels
                .iter()
                .map(|sentinel| self.cli(sentinel, &["SENTINEL", "master", SERVICE]))
                .collect();
            let seen = views.iter().all(|view| {
                field(view, "num-slaves") == Some("1")
                    && field(view, "num-other-sentinels") == Some(&others)
                    && field(view, "flags") == Some("master")
            });
            if synced && seen {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the Sentinel deployment did not settle within {SETTLE_TIMEOUT:?}:\n{replica}\n{views:#?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The value after the line `name` in `redis-cli`'s raw output of a
/// field/value reply.
fn field<'a>(reply: &'a str, name: &str) -> Option<&'a str> {
    let mut lines = reply.lines();
    lines.find(|line| *line == name)?;
    lines.next()
}
