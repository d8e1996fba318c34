//! A fake NAT-PMP gateway on 127.0.0.1 UDP for tests.

use std::collections::{BTreeMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// The fake's state; tests read and change it between calls.
#[derive(Debug)]
pub(crate) struct PmpState {
    pub external_ip: Ipv4Addr,
    /// (opcode, internal port) -> (external port, lifetime).
    pub mappings: BTreeMap<(u8, u16), (u16, u32)>,
    /// External ports in use by someone else: the fake assigns the next free one.
    pub taken: HashSet<u16>,
    /// Requests to ignore before answering (tests retransmission).
    pub drop_next: usize,
    /// Answer every request with this result code.
    pub result_code: Option<u16>,
    /// Number of requests received.
    pub requests: usize,
}

/// A running fake gateway; stops when dropped.
pub(crate) struct FakePmp {
    pub addr: SocketAddr,
    state: Arc<Mutex<PmpState>>,
    task: JoinHandle<()>,
}

impl FakePmp {
    pub(crate) async fn start() -> FakePmp {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let state = Arc::new(Mutex::new(PmpState {
            external_ip: Ipv4Addr::new(198, 51, 100, 7),
            mappings: BTreeMap::new(),
            taken: HashSet::new(),
            drop_next: 0,
            result_code: None,
            requests: 0,
        }));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 64];
            loop {
                let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let reply = answer(&buf[..n], &mut shared.lock().unwrap());
                if let Some(reply) = reply {
                    let _ = socket.send_to(&reply, from).await;
                }
            }
        });
        FakePmp { addr, state, task }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, PmpState> {
        self.state.lock().unwrap()
    }

    /// Stops answering and closes the socket (clients see "connection refused").
    pub(crate) fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for FakePmp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn answer(req: &[u8], st: &mut PmpState) -> Option<Vec<u8>> {
    st.requests += 1;
    if st.drop_next > 0 {
        st.drop_next -= 1;
        return None;
    }
    if req.len() < 2 || req[0] != 0 {
        return None;
    }
    let op = req[1];
    let code = st.result_code.unwrap_or(0);
    let epoch = 1000u32.to_be_bytes();
    let mut out = vec![0, 128 + op];
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&epoch);
    match op {
        0 => out.extend_from_slice(&st.external_ip.octets()),
        1 | 2 if req.len() == 12 => {
            let int = u16::from_be_bytes([req[4], req[5]]);
            let suggested = u16::from_be_bytes([req[6], req[7]]);
            let lifetime = u32::from_be_bytes([req[8], req[9], req[10], req[11]]);
            let (ext, granted) = if code != 0 {
                (0, 0)
            } else if lifetime == 0 {
                st.mappings.remove(&(op, int));
                (0, 0)
            } else {
                let mut ext = if suggested == 0 { int } else { suggested };
                while st.taken.contains(&ext) {
                    ext = ext.wrapping_add(1).max(1024);
                }
                st.mappings.insert((op, int), (ext, lifetime));
                (ext, lifetime)
            };
            out.extend_from_slice(&int.to_be_bytes());
            out.extend_from_slice(&ext.to_be_bytes());
            out.extend_from_slice(&granted.to_be_bytes());
        }
        _ => {
            out[2..4].copy_from_slice(&5u16.to_be_bytes());
        }
    }
    Some(out)
}
