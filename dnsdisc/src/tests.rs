//! Unit tests: EIP-1459's example tree (a spec vector), parsing errors,
//! round trips, and the client's checks over a [`StaticResolver`].

use std::time::Duration;

use devp2p_identity::{node_key_from_rng, Enr};
use futures::StreamExt;
use rand::SeedableRng;
use secp256k1::SecretKey;

use crate::*;

/// EIP-1459's example zone: root (signed by go-ethereum's test key below),
/// a link and three records. Spec vector, copied from the EIP.
const EIP_ROOT: &str = "enrtree-root:v1 e=JWXYDBPXYWG6FX3GMDIBFA6CJ4 l=C7HRFPF3BLGF3YR4DY5KX3SMBE seq=1 sig=o908WmNp7LibOfPsr4btQwatZJ5URBr2ZAuxvK4UWHlsB9sUOTJQaGAlLPVAhM__XJesCHxLISo94z5Z2a463gA";
const EIP_LINK: &str =
    "enrtree://AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT2@morenodes.example.org";
const EIP_BRANCH: &str = "enrtree-branch:2XS2367YHAXJFGLZHVAWLQD4ZY,H4FHT4B454P6UXFD7JCYQ5PWDY,MHTDO6TMUBRIA2XWG5LUDACK24";
const EIP_ENRS: [(&str, &str); 3] = [
    ("2XS2367YHAXJFGLZHVAWLQD4ZY", "enr:-HW4QOFzoVLaFJnNhbgMoDXPnOvcdVuj7pDpqRvh6BRDO68aVi5ZcjB3vzQRZH2IcLBGHzo8uUN3snqmgTiE56CH3AMBgmlkgnY0iXNlY3AyNTZrMaECC2_24YYkYHEgdzxlSNKQEnHhuNAbNlMlWJxrJxbAFvA"),
    ("H4FHT4B454P6UXFD7JCYQ5PWDY", "enr:-HW4QAggRauloj2SDLtIHN1XBkvhFZ1vtf1raYQp9TBW2RD5EEawDzbtSmlXUfnaHcvwOizhVYLtr7e6vw7NAf6mTuoCgmlkgnY0iXNlY3AyNTZrMaECjrXI8TLNXU0f8cthpAMxEshUyQlK-AM0PW2wfrnacNI"),
    ("MHTDO6TMUBRIA2XWG5LUDACK24", "enr:-HW4QLAYqmrwllBEnzWWs7I5Ev2IAs7x_dZlbYdRdMUx5EyKHDXp7AV5CkuPGUPdvbv1_Ms1CPfhcGCvSElSosZmyoqAgmlkgnY0iXNlY3AyNTZrMaECriawHKWdDRk2xeZkrOXBQ0dfMFLHY4eENZwdufn1S1o"),
];
/// The key that signed the example root (go-ethereum's dnsdisc tests).
const EIP_SIGNING_KEY: &str = "dc599867fc513f8f5e2c2c9c489cde5e71362d1d9ec6e693e0de063236ed1240";
/// Its URL at domain "n" (go-ethereum's dnsdisc tests).
const EIP_URL: &str = "enrtree://AKPYQIUQIL7PSIACI32J7FGZW56E5FKHEFCCOFHILBIMW3M6LWXS2@n";

fn eip_zone() -> Vec<(String, String)> {
    let mut z = vec![
        ("n".to_owned(), EIP_ROOT.to_owned()),
        (
            "C7HRFPF3BLGF3YR4DY5KX3SMBE.n".to_owned(),
            EIP_LINK.to_owned(),
        ),
        (
            "JWXYDBPXYWG6FX3GMDIBFA6CJ4.n".to_owned(),
            EIP_BRANCH.to_owned(),
        ),
    ];
    for (h, e) in EIP_ENRS {
        z.push((format!("{h}.n"), e.to_owned()));
    }
    z
}

fn eip_key() -> SecretKey {
    SecretKey::from_secret_bytes(hex::decode(EIP_SIGNING_KEY).unwrap().try_into().unwrap()).unwrap()
}

fn config() -> ClientConfig {
    ClientConfig {
        rate_limit: 0,
        lookup_timeout: Duration::from_secs(2),
        ..ClientConfig::default()
    }
}

fn records(seed: u64, n: u16) -> Vec<Enr> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            Enr::builder()
                .ip4([127, 0, 0, 1].into())
                .tcp(30000 + i)
                .udp(30000 + i)
                .sign(&node_key_from_rng(&mut rng))
                .unwrap()
        })
        .collect()
}

fn signed(
    seq: u64,
    recs: Vec<Enr>,
    links: Vec<TreeUrl>,
    key: &SecretKey,
    domain: &str,
) -> (Tree, TreeUrl) {
    let mut tree = Tree::new(seq, recs, links);
    let url = tree.sign(key, domain).unwrap();
    (tree, url)
}

#[test]
fn eip_example_tree_is_rebuilt_byte_for_byte() {
    let recs: Vec<Enr> = EIP_ENRS.iter().map(|(_, e)| e.parse().unwrap()).collect();
    let (tree, url) = signed(1, recs, vec![EIP_LINK.parse().unwrap()], &eip_key(), "n");
    assert_eq!(url.to_string(), EIP_URL);
    let want: std::collections::BTreeMap<String, String> = eip_zone().into_iter().collect();
    assert_eq!(tree.to_txt("n"), want);
}

#[tokio::test]
async fn eip_example_syncs() {
    let client = Client::with_resolver(config(), StaticResolver::new(eip_zone()));
    let tree = client.sync_tree(&EIP_URL.parse().unwrap()).await.unwrap();
    assert_eq!(tree.seq(), 1);
    assert_eq!(tree.records().len(), 3);
    assert_eq!(tree.links(), vec![EIP_LINK.parse::<TreeUrl>().unwrap()]);
}

#[test]
fn entries_round_trip() {
    for text in [
        EIP_ROOT,
        EIP_LINK,
        EIP_BRANCH,
        EIP_ENRS[0].1,
        "enrtree-branch:",
    ] {
        if text.starts_with("enrtree-root") {
            assert_eq!(text.parse::<RootEntry>().unwrap().to_string(), text);
        } else {
            assert_eq!(text.parse::<Entry>().unwrap().to_string(), text);
        }
    }
    let url: TreeUrl = EIP_URL.parse().unwrap();
    let json = serde_json::to_string(&url).unwrap();
    assert_eq!(json, format!("\"{EIP_URL}\""));
    assert_eq!(serde_json::from_str::<TreeUrl>(&json).unwrap(), url);
}

#[test]
fn malformed_entries_are_typed_errors() {
    use EntryError::*;
    type Check = fn(&EntryError) -> bool;
    let cases: Vec<(&str, Check)> = vec![
        ("enrtree-branch:1,2", |e| matches!(e, BadHash { .. })),
        ("enrtree-branch:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", |e| matches!(e, BadHash { .. })),
        ("enrtree-branch:AAAAAAAAAAAAAAAAAAAA,", |e| matches!(e, EmptyChild)),
        ("enrtree://nodes.example.org", |e| matches!(e, MissingPublicKey)),
        ("enrtree://AP62DT7WOTEQZGQZOU474PP3KMEGVTTE7A7NPRXKX3DUD57@nodes.example.org", |e| matches!(e, BadPublicKey)),
        ("enrtree://AP62DT7WONEQZGQZOU474PP3KMEGVTTE7A7NPRXKX3DUD57TQHGIA@nodes.example.org", |e| matches!(e, BadPublicKey)),
        ("enrtree://AKPYQIUQIL7PSIACI32J7FGZW56E5FKHEFCCOFHILBIMW3M6LWXS2@bad..domain", |e| matches!(e, BadDomain { .. })),
        ("enr:-HW4QLZHjM4vZXkbp-5xJoHsKSbE7W39FPC8283X-y8oHcHPTnDDlIlzL5ArvDUlHZVDPgmFASrh7cWgLOLxj4wprRkHgmlkgnY0iXNlY3AyNTZrMaEC3t2jLMhDpCDX5mbSEwDn4L3iUfyXzoO8G28XvjGRkrAg=", |e| matches!(e, BadEnr(_))),
        ("", |e| matches!(e, UnknownEntry { .. })),
        ("foo", |e| matches!(e, UnknownEntry { .. })),
        ("enrtree", |e| matches!(e, UnknownEntry { .. })),
    ];
    for (text, check) in cases {
        let err = text.parse::<Entry>().unwrap_err();
        assert!(check(&err), "{text:?}: {err:?}");
    }
    let long = format!("enr:{}", "A".repeat(MAX_TXT_LEN));
    assert!(matches!(
        long.parse::<Entry>(),
        Err(EntryError::TooLong { .. })
    ));
    // Roots (go-ethereum's parse vectors).
    let no_l = "enrtree-root:v1 e=TO4Q75OQ2N7DX4EOOR7X66A6OM seq=3 sig=N-YY6UB9xD0hFx1Gmnt7v0RfSxch5tKyry2SRDoLx7B4GfPXagwLxQqyf7gAMvApFn_ORwZQekMWa_pXrcGCtw";
    assert!(matches!(
        no_l.parse::<RootEntry>(),
        Err(EntryError::RootSyntax(_))
    ));
    let short_sig = "enrtree-root:v1 e=TO4Q75OQ2N7DX4EOOR7X66A6OM l=TO4Q75OQ2N7DX4EOOR7X66A6OM seq=3 sig=N-YY6UB9xD0hFx1Gmnt7v0RfSxch5tKyry2SRDoLx7B4GfPXagwLxQqyf7gAMvApFn_ORwZQekMWa_pXrcGCtw";
    assert!(matches!(
        short_sig.parse::<RootEntry>(),
        Err(EntryError::BadSignatureEncoding)
    ));
    let ok = "enrtree-root:v1 e=QFT4PBCRX4XQCV3VUYJ6BTCEPU l=JGUFMSAGI7KZYB3P7IZW4S5Y3A seq=3 sig=3FmXuVwpa8Y7OstZTx9PIb1mt8FrW7VpDOFv4AaGCsZ2EIHmhraWhe4NxYhQDlw5MjeFXYMbJjsPeKlHzmJREQE";
    let root: RootEntry = ok.parse().unwrap();
    assert_eq!(root.seq, 3);
    assert_eq!(hex::encode(root.signature), "dc5997b95c296bc63b3acb594f1f4f21bd66b7c16b5bb5690ce16fe006860ac6761081e686b69685ee0dc588500e5c393237855d831b263b0f78a947ce62511101");
}

#[test]
fn large_trees_use_branches_of_thirteen() {
    let recs = records(7, 50);
    let key = SecretKey::from_secret_bytes([7; 32]).unwrap();
    let (tree, url) = signed(2, recs.clone(), vec![], &key, "big.example.org");
    let txt = tree.to_txt("big.example.org");
    assert!(txt.len() > recs.len() + 1);
    for text in txt.values() {
        assert!(text.len() <= MAX_TXT_LEN, "{} bytes", text.len());
        if let Some(rest) = text.strip_prefix("enrtree-branch:") {
            assert!(rest.split(',').count() <= MAX_BRANCH_CHILDREN);
        }
    }
    assert!(tree.root().verify(url.public_key()));
    let mut sorted = recs;
    sorted.sort_by_key(|r| r.node_id().hash());
    assert_eq!(tree.records(), sorted);
}

#[test]
fn zone_file_splits_long_texts() {
    let (tree, _) = signed(1, records(3, 2), vec![], &eip_key(), "z.test");
    let zone = tree.to_zone("z.test", 60, 3600);
    assert!(zone.starts_with("$ORIGIN z.test.\n"));
    for line in zone.lines().filter(|l| l.contains(" TXT ")) {
        for s in line.split('"').skip(1).step_by(2) {
            assert!(s.len() <= TXT_STRING_LEN);
        }
    }
}

#[tokio::test]
async fn wrong_signature_is_rejected() {
    let (tree, _) = signed(1, records(1, 3), vec![], &eip_key(), "n");
    let other = SecretKey::from_secret_bytes([9; 32]).unwrap();
    let url = TreeUrl::new("n", secp256k1::PublicKey::from_secret_key(&other)).unwrap();
    let client = Client::with_resolver(config(), StaticResolver::new(tree.to_txt("n")));
    let err = client.sync_tree(&url).await.unwrap_err();
    assert!(matches!(err, Error::InvalidSignature { .. }), "{err}");
    let mut walk = client.random_walk(url);
    assert!(matches!(
        walk.step().await,
        Err(Error::InvalidSignature { .. })
    ));
}

#[tokio::test]
async fn hash_mismatch_is_rejected() {
    let recs = records(2, 3);
    let (tree, url) = signed(1, recs.clone(), vec![], &eip_key(), "n");
    let mut zone = StaticResolver::new(tree.to_txt("n"));
    // Serve another valid record under the first leaf's name.
    let victim = tree
        .to_txt("n")
        .into_iter()
        .find(|(_, t)| t.starts_with("enr:"))
        .unwrap()
        .0;
    zone.set(&victim, vec![records(99, 1)[0].to_string()]);
    let client = Client::with_resolver(config(), zone);
    let err = client.sync_tree(&url).await.unwrap_err();
    assert!(
        matches!(err, Error::HashMismatch { ref name } if *name == victim),
        "{err}"
    );
}

#[tokio::test]
async fn oversized_txt_is_rejected() {
    let (tree, url) = signed(1, records(4, 1), vec![], &eip_key(), "n");
    let mut zone = StaticResolver::new(tree.to_txt("n"));
    let leaf = format!("{}.n", tree.root().enr_root);
    zone.set(&leaf, vec![format!("enr:{}", "A".repeat(600))]);
    let client = Client::with_resolver(config(), zone);
    let err = client.sync_tree(&url).await.unwrap_err();
    assert!(matches!(err, Error::TxtTooLarge { len: 604, .. }), "{err}");
}

#[tokio::test(start_paused = true)]
async fn silent_subtree_times_out() {
    let (tree, url) = signed(1, records(5, 3), vec![], &eip_key(), "n");
    let mut zone = StaticResolver::new(tree.to_txt("n"));
    let branch = format!("{}.n", tree.root().enr_root);
    zone.silence(&branch);
    let client = Client::with_resolver(config(), zone);
    let err = client.sync_tree(&url).await.unwrap_err();
    assert!(
        matches!(err, Error::Timeout { ref name, .. } if *name == branch),
        "{err}"
    );
    // The source never yields anything (paused time: back-offs pass instantly).
    let mut source = DnsSource::new(client, vec![url]);
    let got = tokio::time::timeout(Duration::from_secs(120), source.next()).await;
    assert!(
        got.is_err(),
        "no record may come out of an unverifiable tree"
    );
}

#[tokio::test(start_paused = true)]
async fn link_loop_is_reported_and_walk_stays_finite() {
    let ka = SecretKey::from_secret_bytes([1; 32]).unwrap();
    let kb = SecretKey::from_secret_bytes([2; 32]).unwrap();
    let ua = TreeUrl::new("a.test", secp256k1::PublicKey::from_secret_key(&ka)).unwrap();
    let ub = TreeUrl::new("b.test", secp256k1::PublicKey::from_secret_key(&kb)).unwrap();
    let (ta, _) = signed(1, vec![], vec![ub.clone()], &ka, "a.test");
    let (tb, _) = signed(1, vec![], vec![ua.clone()], &kb, "b.test");
    let zone = StaticResolver::new(ta.to_txt("a.test").into_iter().chain(tb.to_txt("b.test")));
    let client = Client::with_resolver(config(), zone);
    let err = client.sync_all(&ua).await.unwrap_err();
    assert!(
        matches!(err, Error::LinkLoop { ref from, ref to } if from == "b.test" && to == "a.test"),
        "{err}"
    );
    // The walk visits both trees once, reports the loop, then idles.
    let mut walk = client.random_walk(ua.clone()).with_seed(1);
    let mut loops = 0;
    for _ in 0..50 {
        match walk.step().await {
            Ok(Step::Idle(_)) => break,
            Ok(Step::Record(r)) => panic!("no records in these trees: {r:?}"),
            Ok(Step::Progress) => {}
            Err(Error::LinkLoop { .. }) => loops += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(loops, 1);
    assert_eq!(
        walk.domains(),
        vec!["a.test".to_owned(), "b.test".to_owned()]
    );
}

#[tokio::test(start_paused = true)]
async fn walk_follows_links_and_new_roots() {
    let ka = SecretKey::from_secret_bytes([3; 32]).unwrap();
    let kb = SecretKey::from_secret_bytes([4; 32]).unwrap();
    let recs_a = records(10, 5);
    let recs_b = records(11, 4);
    let (tb, ub) = signed(1, recs_b.clone(), vec![], &kb, "b.test");
    let (ta, ua) = signed(1, recs_a.clone(), vec![ub], &ka, "a.test");
    let zone = StaticResolver::new(ta.to_txt("a.test").into_iter().chain(tb.to_txt("b.test")));
    let client = Client::with_resolver(config(), zone);
    let mut source = DnsSource::from_walk(client.random_walk(ua).with_seed(3));
    let mut seen = std::collections::HashSet::new();
    while seen.len() < recs_a.len() + recs_b.len() {
        let r = tokio::time::timeout(Duration::from_secs(60), source.next())
            .await
            .expect("a record within a minute")
            .expect("stream goes on");
        seen.insert(r.node_id());
    }
    for r in recs_a.iter().chain(&recs_b) {
        assert!(seen.contains(&r.node_id()));
    }
}

#[tokio::test]
async fn sync_all_downloads_linked_trees() {
    let ka = SecretKey::from_secret_bytes([5; 32]).unwrap();
    let kb = SecretKey::from_secret_bytes([6; 32]).unwrap();
    let (tb, ub) = signed(1, records(12, 2), vec![], &kb, "b.test");
    let (ta, ua) = signed(1, records(13, 2), vec![ub.clone()], &ka, "a.test");
    let zone = StaticResolver::new(ta.to_txt("a.test").into_iter().chain(tb.to_txt("b.test")));
    let client = Client::with_resolver(config(), zone);
    let all = client.sync_all(&ua).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].0, ub);
    assert_eq!(all[1].1, tb);
}

/// A resolver whose records the test can replace while a client uses it.
#[derive(Debug, Clone, Default)]
struct SharedResolver(std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>);

impl SharedResolver {
    fn serve(&self, records: std::collections::BTreeMap<String, String>) {
        let mut map = self.0.lock().unwrap();
        map.clear();
        map.extend(records);
    }
}

impl TxtResolver for SharedResolver {
    fn lookup_txt<'a>(
        &'a self,
        name: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<Vec<Vec<u8>>, LookupFailure>> {
        let found = self.0.lock().unwrap().get(name).cloned();
        Box::pin(async move {
            found
                .map(|t| vec![t.into_bytes()])
                .ok_or_else(|| LookupFailure(format!("no record for {name}")))
        })
    }
}

#[tokio::test(start_paused = true)]
async fn walk_rechecks_the_root_and_follows_a_new_seq() {
    let key = SecretKey::from_secret_bytes([8; 32]).unwrap();
    let old = records(20, 3);
    let new = records(21, 3);
    let (t1, url) = signed(1, old.clone(), vec![], &key, "n");
    let (t2, _) = signed(2, new.clone(), vec![], &key, "n");
    let resolver = SharedResolver::default();
    resolver.serve(t1.to_txt("n"));
    let recheck = Duration::from_secs(60);
    let client = Client::with_resolver(
        ClientConfig {
            recheck_interval: recheck,
            // The rate limit's sleeps are what moves paused time on.
            rate_limit: DEFAULT_RATE_LIMIT,
            ..config()
        },
        resolver.clone(),
    );
    let deadline = tokio::time::Instant::now() + recheck;
    let mut source = DnsSource::from_walk(client.random_walk(url).with_seed(5));
    // One full round, so every old entry is cached (failing leaf lookups
    // would trigger an early root re-check, as in go-ethereum).
    let mut seen = std::collections::HashSet::new();
    while seen.len() < old.len() {
        let r = source.next().await.unwrap();
        assert!(old.contains(&r));
        seen.insert(r.node_id());
    }
    resolver.serve(t2.to_txt("n"));
    // Before the re-check only old records come; after it new ones.
    let mut saw_new = false;
    for _ in 0..1000 {
        let r = tokio::time::timeout(Duration::from_secs(600), source.next())
            .await
            .unwrap()
            .unwrap();
        if tokio::time::Instant::now() < deadline {
            assert!(old.contains(&r), "a new record before the re-check");
        } else if new.contains(&r) {
            saw_new = true;
            break;
        }
    }
    assert!(saw_new, "the new root (seq 2) was followed");
    // A root going back in seq is refused (the walk keeps the newer one).
    let mut walk = client.random_walk(t2_url(&key)).with_seed(6);
    assert_eq!(walk.step().await.unwrap(), Step::Progress, "root seq 2");
    resolver.serve(t1.to_txt("n"));
    tokio::time::advance(recheck).await;
    let err = walk.step().await.unwrap_err();
    assert!(
        matches!(err, Error::SeqWentBack { old: 2, new: 1, .. }),
        "{err}"
    );
}

fn t2_url(key: &SecretKey) -> TreeUrl {
    TreeUrl::new("n", secp256k1::PublicKey::from_secret_key(key)).unwrap()
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Untrusted text never panics a parser.
        #[test]
        fn parsers_never_panic(text in "(enrtree-root:v1 |enrtree-branch:|enrtree://|enr:)?[ -~]{0,600}") {
            let _ = text.parse::<Entry>();
            let _ = text.parse::<RootEntry>();
            let _ = text.parse::<TreeUrl>();
            let _ = text.parse::<EntryHash>();
        }

        /// Any set of records and links: build, sign, publish, sync gives
        /// the same tree back, and every TXT record fits the limit.
        #[test]
        fn trees_round_trip(n in 0u16..40, seed in any::<u64>(), links in 0usize..20, seq in any::<u64>()) {
            let key = SecretKey::from_secret_bytes([42; 32]).unwrap();
            let link_urls: Vec<TreeUrl> = (0..links)
                .map(|i| {
                    let k = SecretKey::from_secret_bytes([i as u8 + 1; 32]).unwrap();
                    TreeUrl::new(&format!("l{i}.example.org"), secp256k1::PublicKey::from_secret_key(&k)).unwrap()
                })
                .collect();
            let (tree, url) = signed(seq, records(seed, n), link_urls.clone(), &key, "p.test");
            let txt = tree.to_txt("p.test");
            for t in txt.values() {
                prop_assert!(t.len() <= MAX_TXT_LEN);
            }
            let client = Client::with_resolver(config(), StaticResolver::new(txt));
            let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
            let synced = rt.block_on(client.sync_tree(&url)).unwrap();
            prop_assert_eq!(&synced, &tree);
            prop_assert_eq!(synced.records().len(), usize::from(n));
            let mut want = link_urls;
            want.sort_by_key(|l| l.to_string());
            prop_assert_eq!(synced.links(), want);
        }
    }
}
