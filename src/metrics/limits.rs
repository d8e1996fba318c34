//! The collector of the operator's limits: time throttled by bandwidth
//! caps and peers dropped by slot churn.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::MetricType;

use crate::peer::Bandwidth;
use crate::server::churn::ChurnCounters;

#[derive(Debug)]
pub(super) struct LimitsCollector {
    pub bandwidth: Bandwidth,
    pub churned: Arc<ChurnCounters>,
}

impl Collector for LimitsCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let (ingress, egress) = self.bandwidth.throttled();
        let mut family = enc.encode_descriptor(
            "bandwidth_throttled_seconds",
            "Time peers' readers (ingress) and writers (egress) waited for bandwidth tokens.",
            None,
            MetricType::Counter,
        )?;
        for (direction, t) in [("ingress", ingress), ("egress", egress)] {
            ConstCounter::new(t.as_secs_f64())
                .encode(family.encode_family(&[("direction", direction)])?)?;
        }
        let (inbound, outbound) = self.churned.snapshot();
        let mut family = enc.encode_descriptor(
            "churn_drops",
            "Peers dropped by slot churn, by direction.",
            None,
            MetricType::Counter,
        )?;
        for (direction, n) in [("inbound", inbound), ("outbound", outbound)] {
            ConstCounter::new(n).encode(family.encode_family(&[("direction", direction)])?)?;
        }
        Ok(())
    }
}
