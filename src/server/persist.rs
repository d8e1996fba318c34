//! The ban list, reputation scores and peer memory in the node database,
//! so a restart does not forgive a banned peer and starts by dialing the
//! peers it had. The [`BanList`] stays sans-IO; the server task writes each
//! change through (bans durably, they are rare; scores and session records
//! without fsync, made durable by the durable commit at stop) and loads the
//! tables at start.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;
use tracing::debug;

use super::TARGET;
use crate::banlist::{BanList, ReputationChange};
use crate::dial::{BackoffKind, Candidate, SetupError};
use crate::node::{Node, NodeId};
use devp2p_discover::db::{FailureKind, NodeDb};

/// Seconds since the Unix epoch now (0 if the clock is before 1970).
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Loads the bans still in force and the stored scores into `bans`.
pub(super) fn load(db: &NodeDb, bans: &mut BanList) {
    let (now, now_unix) = (Instant::now(), unix_now());
    match db.bans(now_unix) {
        Ok(list) => {
            for (id, until_unix) in list {
                bans.ban(id, Duration::from_secs(until_unix - now_unix), now);
            }
        }
        Err(e) => debug!(target: TARGET, error = %e, "could not load bans"),
    }
    match db.reputations() {
        Ok(list) => {
            for (id, score) in list {
                let score =
                    i32::try_from(score).unwrap_or(if score < 0 { i32::MIN } else { i32::MAX });
                bans.adjust(id, score, now);
            }
        }
        Err(e) => debug!(target: TARGET, error = %e, "could not load reputations"),
    }
}

/// Stores a ban lasting until `until`.
pub(super) fn store_ban(db: &NodeDb, id: &NodeId, until: Instant) {
    let secs = until.saturating_duration_since(Instant::now()).as_secs();
    if let Err(e) = db.put_ban(id, unix_now().saturating_add(secs)) {
        debug!(target: TARGET, error = %e, "could not store a ban");
    }
}

/// Removes a ban.
pub(super) fn remove_ban(db: &NodeDb, id: &NodeId) {
    if let Err(e) = db.remove_ban(id) {
        debug!(target: TARGET, error = %e, "could not remove a ban");
    }
}

/// Stores the outcome of a reputation change.
pub(super) fn store_reputation(db: &NodeDb, id: &NodeId, change: ReputationChange) {
    let result = match change {
        ReputationChange::Score(0) => db.remove_reputation(id),
        ReputationChange::Score(score) => db.put_reputation(id, i64::from(score)),
        ReputationChange::Banned(until) => {
            store_ban(db, id, until);
            db.remove_reputation(id)
        }
    };
    if let Err(e) = result {
        debug!(target: TARGET, error = %e, "could not store a reputation");
    }
}

/// The best `n` remembered peers (ranked by
/// [`PeerHistory::score`](devp2p_discover::db::PeerHistory::score)) as dial
/// candidates, after expiring old entries. Empty when `n` is 0 or the
/// database cannot be read.
pub(super) fn remembered_peers(db: &NodeDb, n: usize) -> Vec<Candidate> {
    if n == 0 {
        return Vec::new();
    }
    let now = unix_now();
    if let Err(e) = db.expire_peers(now) {
        debug!(target: TARGET, error = %e, "could not expire remembered peers");
    }
    match db.best_peers(n, now) {
        Ok(list) => list.into_iter().map(|h| Candidate::new(h.node)).collect(),
        Err(e) => {
            debug!(target: TARGET, error = %e, "could not read remembered peers");
            Vec::new()
        }
    }
}

/// Records that a session with `node` started (its endpoint is what a
/// later dial uses).
pub(super) fn session_started(db: &NodeDb, node: &Node) {
    if let Err(e) = db.record_session_start(node, unix_now()) {
        debug!(target: TARGET, error = %e, "could not remember a peer");
    }
}

/// Records that the session with `id` ended after `duration`.
pub(super) fn session_ended(db: &NodeDb, id: &NodeId, duration: Duration) {
    if let Err(e) = db.record_session_end(id, duration, unix_now()) {
        debug!(target: TARGET, error = %e, "could not record a session end");
    }
}

/// Records a failed dial of `id`, by the back-off kind of `error`; failures
/// without a back-off (our own refusals, a stopping server) say nothing
/// about the node and are not recorded.
pub(super) fn dial_failed(db: &NodeDb, id: &NodeId, error: SetupError) {
    let Some(kind) = error.backoff() else {
        return;
    };
    if let Err(e) = db.record_dial_failure(id, failure_kind(kind)) {
        debug!(target: TARGET, error = %e, "could not record a dial failure");
    }
}

/// The stored failure kind of a back-off kind (one to one).
fn failure_kind(kind: BackoffKind) -> FailureKind {
    match kind {
        BackoffKind::Low => FailureKind::Transient,
        BackoffKind::Medium => FailureKind::Timeout,
        BackoffKind::High => FailureKind::Refused,
        BackoffKind::Severe => FailureKind::Protocol,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_kinds_map_one_to_one() {
        let kinds: Vec<FailureKind> = BackoffKind::ALL.iter().map(|k| failure_kind(*k)).collect();
        assert_eq!(kinds, FailureKind::ALL);
    }

    /// Without the `node-db` feature a database file cannot be kept, and
    /// `Server::start` says which feature is missing.
    #[cfg(not(feature = "node-db"))]
    #[tokio::test]
    async fn a_database_file_needs_the_node_db_feature() {
        use crate::server::{Server, ServerError};
        use devp2p_discover::db::NodeDbError;
        let key = secp256k1::SecretKey::from_secret_bytes([7u8; 32]).unwrap();
        let config = crate::config::Config {
            listen_addr: Some(([127, 0, 0, 1], 0).into()),
            no_discovery: true,
            node_database: Some(std::path::PathBuf::from("unused/nodes")),
            ..crate::config::Config::with_key(key)
        };
        let err = Server::start(config).await.unwrap_err();
        assert!(
            matches!(
                err,
                ServerError::NodeDatabase(NodeDbError::NoPersistence { .. })
            ),
            "{err:?}"
        );
        let text = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(text.contains("`node-db` feature"), "{text}");
        // Without a file the in-memory database serves as before.
        let config = crate::config::Config {
            listen_addr: Some(([127, 0, 0, 1], 0).into()),
            no_discovery: true,
            ..crate::config::Config::with_key(key)
        };
        Server::start(config).await.unwrap().stop().await;
    }
}
