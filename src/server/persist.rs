//! The ban list and reputation scores in the node database, so a restart
//! does not forgive a banned peer. The [`BanList`] stays sans-IO; the server
//! task writes each change through (bans durably, they are rare; scores
//! without fsync, made durable by the database flush at stop) and loads the
//! table at start.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;
use tracing::debug;

use super::TARGET;
use crate::banlist::{BanList, ReputationChange};
use crate::node::NodeId;
use devp2p_discover::db::NodeDb;

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
