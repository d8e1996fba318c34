//! NAT-PMP client against the fake gateway on 127.0.0.1.

use std::time::Duration;

use super::fake_gateway::FakePmp;
use super::*;

const LEASE: Duration = Duration::from_secs(600);

#[tokio::test]
async fn external_address_map_and_unmap() {
    let fake = FakePmp::start().await;
    let pmp = Pmp::new(fake.addr);
    assert_eq!(pmp.external_ip().await.unwrap().to_string(), "198.51.100.7");

    assert_eq!(
        pmp.add_mapping(Protocol::Tcp, 30303, 30303, "x", LEASE)
            .await
            .unwrap(),
        30303
    );
    fake.state().taken.insert(30303);
    assert_eq!(
        pmp.add_mapping(Protocol::Udp, 30303, 30303, "x", LEASE)
            .await
            .unwrap(),
        30304,
        "the gateway's choice is returned"
    );
    assert_eq!(fake.state().mappings[&(OP_MAP_TCP, 30303)], (30303, 600));
    assert_eq!(fake.state().mappings[&(OP_MAP_UDP, 30303)], (30304, 600));

    pmp.delete_mapping(Protocol::Tcp, 30303, 30303)
        .await
        .unwrap();
    pmp.delete_mapping(Protocol::Udp, 30304, 30303)
        .await
        .unwrap();
    assert!(fake.state().mappings.is_empty());
}

#[tokio::test]
async fn result_codes_are_typed() {
    let fake = FakePmp::start().await;
    let pmp = Pmp::new(fake.addr);
    for (code, want) in [
        (1, PmpResultCode::UnsupportedVersion),
        (2, PmpResultCode::NotAuthorized),
        (3, PmpResultCode::NetworkFailure),
        (4, PmpResultCode::OutOfResources),
        (5, PmpResultCode::UnsupportedOpcode),
        (77, PmpResultCode::Other(77)),
    ] {
        fake.state().result_code = Some(code);
        let err = pmp.external_ip().await.unwrap_err();
        assert!(
            matches!(err, NatError::Pmp { code: c } if c == want),
            "{code}: {err}"
        );
        let err = pmp
            .add_mapping(Protocol::Udp, 1, 1, "x", LEASE)
            .await
            .unwrap_err();
        assert!(matches!(err, NatError::Pmp { code: c } if c == want));
        assert_eq!(want.code(), code);
    }
    fake.state().result_code = Some(4);
    assert!(pmp.external_ip().await.unwrap_err().is_transient());
    fake.state().result_code = Some(2);
    assert!(!pmp.external_ip().await.unwrap_err().is_transient());
    fake.state().result_code = None;
    fake.state().external_ip = std::net::Ipv4Addr::UNSPECIFIED;
    assert!(matches!(
        pmp.external_ip().await,
        Err(NatError::InvalidExternalIp { .. })
    ));
}

#[tokio::test]
async fn bad_requests_are_refused_locally() {
    let fake = FakePmp::start().await;
    let pmp = Pmp::new(fake.addr);
    assert!(pmp
        .add_mapping(Protocol::Tcp, 1, 1, "x", Duration::from_millis(999))
        .await
        .unwrap_err()
        .is_config_error());
    assert!(pmp
        .add_mapping(Protocol::Tcp, 1, 0, "x", LEASE)
        .await
        .unwrap_err()
        .is_config_error());
    assert_eq!(fake.state().requests, 0);
}

#[tokio::test(start_paused = true)]
async fn retransmits_on_the_rfc_schedule() {
    let fake = FakePmp::start().await;
    fake.state().drop_next = 3;
    let pmp = Pmp::new(fake.addr);
    let started = Instant::now();
    assert!(pmp.external_ip().await.is_ok());
    assert_eq!(fake.state().requests, 4);
    // Three silent waits: 250 + 500 + 1000 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(1750),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_max_attempts() {
    let fake = FakePmp::start().await;
    fake.state().drop_next = usize::MAX;
    let pmp = Pmp::new(fake.addr).with_retransmission(Duration::from_millis(100), 3);
    let err = pmp.external_ip().await.unwrap_err();
    assert!(matches!(err, NatError::Timeout { .. }), "{err}");
    assert!(err.is_transient());
    assert_eq!(fake.state().requests, 3);
}

#[tokio::test]
async fn stopped_gateway_fails_fast_and_discovery_finds_the_live_one() {
    let dead = FakePmp::start().await;
    let live = FakePmp::start().await;
    dead.stop();
    tokio::task::yield_now().await;
    let quick = Duration::from_millis(50);
    let err = Pmp::new(dead.addr)
        .with_retransmission(quick, 2)
        .external_ip()
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");

    let found = Pmp::first_answering(
        vec![
            Pmp::new(dead.addr).with_retransmission(quick, 2),
            Pmp::new(live.addr),
        ],
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    assert_eq!(found.gateway(), live.addr);
    assert!(matches!(
        Pmp::first_answering(vec![], Duration::from_secs(1)).await,
        Err(NatError::NoGateway { .. })
    ));
}

#[test]
fn reads_default_gateway_from_route_table() {
    let routes =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                  eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
                  eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n\
                  garbage\n";
    let want: Ipv4Addr = if cfg!(target_endian = "little") {
        "192.168.1.1".parse().unwrap()
    } else {
        "1.1.168.192".parse().unwrap()
    };
    assert_eq!(default_gateways(routes), vec![want]);
    assert!(default_gateways("").is_empty());
}

#[test]
fn response_check_follows_rfc() {
    let ok = [0, 128, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4];
    assert!(check_response(&ok, OP_EXTERNAL_ADDRESS, EXTERNAL_ADDRESS_RESPONSE_LEN).unwrap());
    assert!(
        !check_response(&ok, OP_MAP_TCP, MAP_RESPONSE_LEN).unwrap(),
        "other opcode: ignored"
    );
    assert!(
        !check_response(&[1, 128, 0, 0], OP_EXTERNAL_ADDRESS, 12).unwrap(),
        "other version: ignored"
    );
    assert!(matches!(
        check_response(&ok[..8], 0, 12),
        Err(NatError::MalformedPmp { .. })
    ));
    assert!(matches!(
        check_response(&[0, 130, 0, 3], OP_MAP_TCP, 16),
        Err(NatError::Pmp {
            code: PmpResultCode::NetworkFailure
        })
    ));
}

proptest::proptest! {
    #[test]
    fn random_responses_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64), op in 0u8..3) {
        let min_len = if op == 0 { EXTERNAL_ADDRESS_RESPONSE_LEN } else { MAP_RESPONSE_LEN };
        if let Ok(true) = check_response(&bytes, op, min_len) {
            proptest::prop_assert!(bytes.len() >= min_len);
        }
    }

    #[test]
    fn random_route_tables_never_panic(text in ".{0,200}") {
        let _ = default_gateways(&text);
    }
}
