//! [`NodeSource`]: where dial candidates come from (discovery, a DNS list,
//! a test), as an async iterator of [`Node`]s.

use std::fmt;

use futures::stream::{BoxStream, SelectAll};
use futures::{Stream, StreamExt};

use crate::node::Node;

/// An async iterator of dial candidates. Any `Stream<Item = Node>` that is
/// `Send + Unpin + 'static` is one (for instance discv4's random-nodes
/// stream). The server pulls a node only when it has a free dial slot, so a
/// source is never drained faster than it is used; a source that ends is
/// dropped.
pub trait NodeSource: Stream<Item = Node> + Send + Unpin + 'static {}

impl<T: Stream<Item = Node> + Send + Unpin + 'static> NodeSource for T {}

/// Several node sources polled fairly (round-robin) as one.
#[derive(Default)]
pub(crate) struct NodeSources {
    inner: SelectAll<BoxStream<'static, Node>>,
}

impl NodeSources {
    /// No sources.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Adds a source.
    pub(crate) fn push(&mut self, source: impl NodeSource) {
        self.inner.push(source.boxed());
    }

    /// Whether there is no (unfinished) source.
    pub(crate) fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The next candidate from any source; `None` once every source ended
    /// (pends forever while there is none, so use it behind an `is_empty`
    /// guard in `select!`).
    pub(crate) async fn next(&mut self) -> Option<Node> {
        if self.inner.is_empty() {
            return futures::future::pending().await;
        }
        self.inner.next().await
    }
}

impl fmt::Debug for NodeSources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeSources")
            .field("len", &self.inner.len())
            .finish()
    }
}
