//! UPnP client against the fake IGD on 127.0.0.1 (real time: every exchange is local and
//! answered at once; the request timeout only guards against a hung test).

use std::time::Duration;

use super::fake_igd::FakeIgd;
use super::*;

const LEASE: Duration = Duration::from_secs(600);

async fn client(fake: &FakeIgd) -> Upnp {
    Upnp::from_description_url(&fake.url)
        .await
        .expect("fake description parses")
}

#[tokio::test]
async fn igd1_external_ip_map_and_delete() {
    let fake = FakeIgd::start(WanService::WanIp1).await;
    let upnp = client(&fake).await;
    assert_eq!(upnp.service(), WanService::WanIp1);
    assert_eq!(upnp.internal_ip().to_string(), "127.0.0.1");
    assert_eq!(
        upnp.external_ip().await.unwrap().to_string(),
        "203.0.113.10"
    );

    let port = upnp
        .add_mapping(Protocol::Tcp, 30303, 30303, "devp2p <tcp>", LEASE)
        .await
        .unwrap();
    assert_eq!(port, 30303);
    {
        let st = fake.state();
        let m = &st.mappings[&("TCP".to_owned(), 30303)];
        assert_eq!(
            (m.internal_port, m.client.as_str(), m.lease),
            (30303, "127.0.0.1", 600)
        );
        assert_eq!(
            m.description, "devp2p &lt;tcp&gt;",
            "the name is XML-escaped on the wire"
        );
    }
    let udp = upnp
        .add_mapping(Protocol::Udp, 0, 30301, "disc", LEASE)
        .await
        .unwrap();
    assert_eq!(udp, 30301, "external port 0 means: same as internal");

    upnp.delete_mapping(Protocol::Tcp, 30303, 30303)
        .await
        .unwrap();
    assert!(!fake
        .state()
        .mappings
        .contains_key(&("TCP".to_owned(), 30303)));
    // Deleting a mapping that is gone (714 NoSuchEntryInArray) counts as done.
    upnp.delete_mapping(Protocol::Tcp, 30303, 30303)
        .await
        .unwrap();
    assert_eq!(fake.state().mappings.len(), 1);
}

#[tokio::test]
async fn conflicting_port_is_retried_with_another() {
    let fake = FakeIgd::start(WanService::WanIp1).await;
    fake.state().conflict_ports.insert(30303);
    let upnp = client(&fake).await;
    let port = upnp
        .add_mapping(Protocol::Tcp, 30303, 30303, "devp2p", LEASE)
        .await
        .unwrap();
    assert_ne!(port, 30303);
    assert!(port >= RANDOM_PORT_MIN);
    let st = fake.state();
    assert_eq!(st.mappings[&("TCP".to_owned(), port)].internal_port, 30303);
    assert!(st.actions.iter().all(|a| a == "AddPortMapping"));
    assert!((2..=1 + MAX_CONFLICT_RETRIES).contains(&st.actions.len()));
}

#[tokio::test]
async fn gives_up_after_bounded_conflicts() {
    let fake = FakeIgd::start(WanService::WanIp1).await;
    fake.state()
        .conflict_ports
        .extend((RANDOM_PORT_MIN..=u16::MAX).chain([30303]));
    let upnp = client(&fake).await;
    let err = upnp
        .add_mapping(Protocol::Udp, 30303, 30303, "devp2p", LEASE)
        .await
        .unwrap_err();
    assert!(
        matches!(err, NatError::PortConflict { attempts } if attempts == 1 + MAX_CONFLICT_RETRIES),
        "{err}"
    );
    assert_eq!(fake.state().actions.len(), 1 + MAX_CONFLICT_RETRIES);
    assert!(fake.state().mappings.is_empty());
}

#[tokio::test]
async fn igd2_uses_add_any_port_mapping() {
    let fake = FakeIgd::start(WanService::WanIp2).await;
    fake.state().conflict_ports.insert(30303);
    let upnp = client(&fake).await;
    assert_eq!(upnp.service(), WanService::WanIp2);
    let port = upnp
        .add_mapping(Protocol::Tcp, 30303, 30303, "devp2p", LEASE)
        .await
        .unwrap();
    assert_eq!(port, 30304, "the gateway picked the next free port");
    // A refresh of our own mapping keeps the port.
    let again = upnp
        .add_mapping(Protocol::Tcp, port, 30303, "devp2p", LEASE)
        .await
        .unwrap();
    assert_eq!(again, port);
    assert_eq!(
        fake.state().actions,
        ["AddAnyPortMapping", "AddAnyPortMapping"]
    );
}

#[tokio::test]
async fn igd2_without_add_any_falls_back_once() {
    let fake = FakeIgd::start(WanService::WanIp2).await;
    fake.state().add_any = false;
    let upnp = client(&fake).await;
    assert_eq!(
        upnp.add_mapping(Protocol::Udp, 30303, 30303, "d", LEASE)
            .await
            .unwrap(),
        30303
    );
    assert_eq!(
        upnp.add_mapping(Protocol::Tcp, 30303, 30303, "d", LEASE)
            .await
            .unwrap(),
        30303
    );
    assert_eq!(
        fake.state().actions,
        ["AddAnyPortMapping", "AddPortMapping", "AddPortMapping"],
        "the missing action is remembered"
    );
}

#[tokio::test]
async fn ppp_service_works_and_permanent_lease_is_honoured() {
    let fake = FakeIgd::start(WanService::WanPpp1).await;
    fake.state().permanent_only = true;
    let upnp = client(&fake).await;
    assert_eq!(upnp.service(), WanService::WanPpp1);
    assert_eq!(
        upnp.add_mapping(Protocol::Tcp, 4000, 4000, "d", LEASE)
            .await
            .unwrap(),
        4000
    );
    assert_eq!(fake.state().mappings[&("TCP".to_owned(), 4000)].lease, 0);
    // Remembered: the next request goes straight to lease 0.
    upnp.add_mapping(Protocol::Udp, 4000, 4000, "d", LEASE)
        .await
        .unwrap();
    assert_eq!(
        fake.state().actions,
        ["AddPortMapping", "AddPortMapping", "AddPortMapping"]
    );
}

#[tokio::test]
async fn bad_answers_are_typed_errors() {
    let fake = FakeIgd::start(WanService::WanIp1).await;
    let upnp = client(&fake).await;
    for bad in ["", "0.0.0.0", "not-an-ip"] {
        fake.state().external_ip = bad.into();
        let err = upnp.external_ip().await.unwrap_err();
        assert!(
            matches!(err, NatError::InvalidExternalIp { .. }),
            "{bad:?}: {err}"
        );
    }
    let err = upnp
        .add_mapping(Protocol::Tcp, 1, 0, "d", LEASE)
        .await
        .unwrap_err();
    assert!(err.is_config_error());

    let wrong_path = fake.url.replace("desc.xml", "nope.xml");
    let err = Upnp::from_description_url(&wrong_path).await.unwrap_err();
    assert!(
        matches!(err, NatError::HttpStatus { status: 404, .. }),
        "{err}"
    );
    let err = Upnp::from_description_url("http://gateway.lan/desc.xml")
        .await
        .unwrap_err();
    assert!(
        matches!(err, NatError::InvalidUrl { .. }),
        "host names are never resolved"
    );
}

#[tokio::test]
async fn vanished_gateway_gives_transient_error() {
    let fake = FakeIgd::start(WanService::WanIp1).await;
    let upnp = client(&fake).await;
    fake.stop();
    tokio::task::yield_now().await;
    let err = upnp.external_ip().await.unwrap_err();
    assert!(err.is_transient(), "{err}");
}
