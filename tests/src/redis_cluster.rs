//! A throwaway Redis Cluster of three primaries for integration tests.
//!
//! [`RedisCluster::start`] runs three `redis-server --cluster-enabled yes`
//! nodes (each from [`RedisServer`], on free loopback ports, with its own
//! `nodes.conf` and cluster bus port in its temporary directory), joins
//! them with `redis-cli --cluster create … --cluster-replicas 0`, and
//! waits until every node reports `cluster_state:ok` and knows the other
//! two. Joining takes about three seconds (`redis-cli` waits for the
//! nodes to agree), so a test binary shares one cluster between its tests
//! through [`RedisCluster::shared`], each test under its own key prefix.
//!
//! A `static` is never dropped, so the nodes are started under a watchdog
//! that kills them when the test process exits, however it exits (see
//! [`RedisServer`]'s linked mode); a cluster that is dropped kills its
//! nodes at once.
//!
//! ```no_run
//! use cache_tests::redis_cluster::RedisCluster;
//!
//! let cluster = RedisCluster::shared();
//! let url = cluster.url(); // redis+cluster://127.0.0.1:<p1>,127.0.0.1:<p2>,127.0.0.1:<p3>
//! cluster.cli(&["SET", "k", "v"]); // redis-cli -c: follows MOVED
//! assert_eq!(cluster.cli(&["GET", "k"]), "v");
//! ```

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use crate::redis_server::{redis_cli, Mode, RedisServer};

/// How long the nodes may take to agree on the cluster after joining.
const AGREE_TIMEOUT: Duration = Duration::from_secs(20);

/// The number of primaries.
const PRIMARIES: usize = 3;

/// Three cluster nodes, each a primary of about a third of the slots, no
/// replicas. Dropping it kills the nodes.
///
/// ```no_run
/// use cache_tests::redis_cluster::RedisCluster;
///
/// let cluster = RedisCluster::start();
/// assert_eq!(cluster.nodes().len(), 3);
/// ```
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three nodes, joins them into a cluster and waits until it
    /// is usable.
    ///
    /// # Panics
    ///
    /// If `redis-server` or `redis-cli` is not on `PATH`, a node does not
    /// start, `redis-cli --cluster create` fails, or the nodes do not
    /// agree within 20 seconds.
    ///
    /// ```no_run
    /// let cluster = cache_tests::redis_cluster::RedisCluster::start();
    /// ```
    pub fn start() -> Self {
        Self::start_with_args(&[])
    }

    /// [`start`](Self::start) with extra `redis-server` arguments for every
    /// node, e.g. `["--cluster-require-full-coverage", "no"]` for a
    /// cluster that keeps serving the slots of its live nodes when one
    /// dies.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    ///
    /// ```no_run
    /// let cluster = cache_tests::redis_cluster::RedisCluster::start_with_args(&[
    ///     "--cluster-require-full-coverage", "no",
    /// ]);
    /// ```
    pub fn start_with_args(args: &[&str]) -> Self {
        let nodes: Vec<RedisServer> = (0..PRIMARIES)
            .map(|_| RedisServer::start_linked(Mode::ClusterNode, args))
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port()))
            .collect();
        let mut create = vec!["--cluster", "create"];
        create.extend(addresses.iter().map(String::as_str));
        create.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        redis_cli(nodes[0].port(), &create);
        let cluster = Self { nodes };
        cluster.wait_until_agreed();
        cluster
    }

    /// The cluster of this test binary, started on first use and shared
    /// by its tests (give each test its own key prefix). Its nodes die
    /// with the test process.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    ///
    /// ```no_run
    /// let url = cache_tests::redis_cluster::RedisCluster::shared().url();
    /// ```
    pub fn shared() -> &'static Self {
        static SHARED: LazyLock<RedisCluster> = LazyLock::new(RedisCluster::start);
        &SHARED
    }

    /// `redis+cluster://127.0.0.1:<p1>,127.0.0.1:<p2>,127.0.0.1:<p3>`.
    ///
    /// ```no_run
    /// let cluster = cache_tests::redis_cluster::RedisCluster::shared();
    /// assert!(cluster.url().starts_with("redis+cluster://127.0.0.1:"));
    /// ```
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port()))
            .collect();
        format!("redis+cluster://{}", nodes.join(","))
    }

    /// The nodes, each a primary.
    ///
    /// ```no_run
    /// let cluster = cache_tests::redis_cluster::RedisCluster::shared();
    /// for node in cluster.nodes() {
    ///     println!("{} keys on {}", node.cli(&["DBSIZE"]), node.port());
    /// }
    /// ```
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// Stops node `index` (its process is killed; the others keep running
    /// and, after their node timeout, mark it failed).
    ///
    /// ```no_run
    /// let mut cluster = cache_tests::redis_cluster::RedisCluster::start();
    /// cluster.stop_node(2);
    /// ```
    pub fn stop_node(&mut self, index: usize) {
        self.nodes[index].stop();
    }

    /// The hash slot of `key` (`CLUSTER KEYSLOT`).
    ///
    /// ```no_run
    /// let cluster = cache_tests::redis_cluster::RedisCluster::shared();
    /// assert_eq!(cluster.keyslot("{user}:1"), cluster.keyslot("{user}:2"));
    /// ```
    ///
    /// # Panics
    ///
    /// If the node does not answer with a number.
    pub fn keyslot(&self, key: &str) -> u16 {
        let reply = self.nodes[0].cli(&["CLUSTER", "KEYSLOT", key]);
        reply
            .parse()
            .unwrap_or_else(|_| panic!("CLUSTER KEYSLOT {key}: {reply}"))
    }

    /// The index of the node that serves `slot` (from `CLUSTER SLOTS` as
    /// the first live node sees it).
    ///
    /// ```no_run
    /// let cluster = cache_tests::redis_cluster::RedisCluster::shared();
    /// let owner = cluster.slot_owner(cluster.keyslot("k"));
    /// ```
    ///
    /// # Panics
    ///
    /// If no node serves the slot.
    pub fn slot_owner(&self, slot: u16) -> usize {
        let ids = self.node_ids();
        let shards = self.nodes[0].cli(&["CLUSTER", "SLOTS"]);
        // Raw output: start, end, host, port, id (, replicas…) per range.
        let lines: Vec<&str> = shards.lines().collect();
        for range in lines.windows(5) {
            let (Ok(start), Ok(end)) = (range[0].parse::<u16>(), range[1].parse::<u16>()) else {
                continue;
            };
            if (start..=end).contains(&slot) {
                if let Some(owner) = ids.iter().position(|id| id == range[4]) {
                    return owner;
                }
            }
        }
        panic!("no node serves slot {slot}: {shards}");
    }

    /// Every node's id (`CLUSTER MYID`), in node order.
    ///
    /// ```no_run
    /// assert_eq!(cache_tests::redis_cluster::RedisCluster::shared().node_ids().len(), 3);
    /// ```
    pub fn node_ids(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|node| node.cli(&["CLUSTER", "MYID"]))
            .collect()
    }

    /// Starts moving `slot` from node `from` to node `to` as an operator
    /// does: the target `IMPORTING`, then the source `MIGRATING`. Keys
    /// move with [`migrate`](Self::migrate); [`finish_migration`](Self::finish_migration)
    /// hands the slot over.
    ///
    /// ```no_run
    /// let cluster = cache_tests::redis_cluster::RedisCluster::shared();
    /// let slot = cluster.keyslot("{t}:k");
    /// let from = cluster.slot_owner(slot);
    /// let to = (from + 1) % 3;
    /// cluster.begin_migration(slot, from, to);
    /// cluster.migrate(from, to, "{t}:k");
    /// cluster.finish_migration(slot, to);
    /// ```
    ///
    /// # Panics
    ///
    /// If a node refuses.
    pub fn begin_migration(&self, slot: u16, from: usize, to: usize) {
        let ids = self.node_ids();
        let slot = slot.to_string();
        let (source, target) = (&self.nodes[from], &self.nodes[to]);
        let importing = target.cli(&["CLUSTER", "SETSLOT", &slot, "IMPORTING", &ids[from]]);
        assert_eq!(importing, "OK", "SETSLOT {slot} IMPORTING");
        let migrating = source.cli(&["CLUSTER", "SETSLOT", &slot, "MIGRATING", &ids[to]]);
        assert_eq!(migrating, "OK", "SETSLOT {slot} MIGRATING");
    }

    /// Moves `key` from node `from` to node `to` (`MIGRATE`, as
    /// `redis-cli --cluster reshard` does). Returns the source's reply:
    /// `OK`, `NOKEY`, or an error such as `BUSYKEY` when the target
    /// already holds the key.
    ///
    /// ```no_run
    /// let cluster = cache_tests::redis_cluster::RedisCluster::shared();
    /// assert_eq!(cluster.migrate(0, 1, "{t}:k"), "NOKEY");
    /// ```
    pub fn migrate(&self, from: usize, to: usize, key: &str) -> String {
        let port = self.nodes[to].port().to_string();
        self.nodes[from].cli(&["MIGRATE", "127.0.0.1", &port, key, "0", "5000"])
    }

    /// Ends a migration: every live node learns that `slot` belongs to node
    /// `to` (`CLUSTER SETSLOT <slot> NODE <id>`).
    ///
    /// ```no_run
    /// let cluster = cache_tests::redis_cluster::RedisCluster::shared();
    /// cluster.finish_migration(cluster.keyslot("{t}:k"), 1);
    /// ```
    ///
    /// # Panics
    ///
    /// If a node refuses.
    pub fn finish_migration(&self, slot: u16, to: usize) {
        let id = self.nodes[to].cli(&["CLUSTER", "MYID"]);
        let slot = slot.to_string();
        for node in &self.nodes {
            let reply = node.cli(&["CLUSTER", "SETSLOT", &slot, "NODE", &id]);
            assert_eq!(reply, "OK", "SETSLOT {slot} NODE");
        }
    }

    /// Runs `redis-cli -c` (following redirections) against the first
    /// node, as [`RedisServer::cli`].
    ///
    /// # Panics
    ///
    /// If `redis-cli` fails.
    ///
    /// ```no_run
    /// let cluster = cache_tests::redis_cluster::RedisCluster::shared();
    /// cluster.cli(&["SET", "other:1", "x"]);
    /// ```
    pub fn cli(&self, args: &[&str]) -> String {
        let mut all = vec!["-c"];
        all.extend_from_slice(args);
        self.nodes[0].cli(&all)
    }

    /// The keys matching the glob `pattern` on each node, in node order
    /// (`redis-cli --scan --pattern` per node).
    ///
    /// # Panics
    ///
    /// If `redis-cli` fails.
    ///
    /// ```no_run
    /// let cluster = cache_tests::redis_cluster::RedisCluster::shared();
    /// let per_node: Vec<usize> = cluster.keys_per_node("app:*").iter().map(Vec::len).collect();
    /// ```
    pub fn keys_per_node(&self, pattern: &str) -> Vec<Vec<String>> {
        self.nodes
            .iter()
            .map(|node| {
                node.cli(&["--scan", "--pattern", pattern])
                    .lines()
                    .map(str::to_owned)
                    .collect()
            })
            .collect()
    }

    /// Waits until every node says `cluster_state:ok` and knows all the
    /// nodes.
    fn wait_until_agreed(&self) {
        let deadline = Instant::now() + AGREE_TIMEOUT;
        let known = format!("cluster_known_nodes:{PRIMARIES}");
        loop {
            let infos: Vec<String> = self
                .nodes
                .iter()
                .map(|node| redis_cli(node.port(), &["CLUSTER", "INFO"]))
                .collect();
            if infos
                .iter()
                .all(|info| info.contains("cluster_state:ok") && info.contains(&known))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster nodes did not agree within {AGREE_TIMEOUT:?}: {infos:#?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
