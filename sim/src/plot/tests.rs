use super::*;

/// One hour sampled every minute (61 samples): a logistic fill curve, a
/// traffic burst that settles, arrivals over the first 5 minutes, recall from
/// minute 2 on, and (with `eclipse`) an honest share that dips.
fn synthetic(eclipse: bool) -> SimReport {
    let samples: Vec<Sample> = (0..=60)
        .map(|m| {
            let t = f64::from(m);
            let logistic = |mid: f64, width: f64| 1.0 / (1.0 + (-(t - mid) / width).exp());
            Sample {
                virtual_s: t * 60.0,
                live_nodes: (200 * m.min(5) as usize).max(3),
                table_fill: logistic(15.0, 3.0),
                mean_fill: logistic(10.0, 4.0),
                recall: (m >= 2).then(|| 0.3 + 0.65 * logistic(12.0, 4.0)),
                hops: (m >= 2).then_some(3.5),
                pkts_per_node_min: if m == 0 {
                    0.0
                } else {
                    40.0 + 200.0 * (-t / 8.0).exp()
                },
                honest_share: eclipse.then(|| 1.0 - 0.3 * logistic(20.0, 5.0)),
            }
        })
        .collect();
    SimReport {
        scenario: if eclipse { "eclipse" } else { "formation" }.to_string(),
        nodes: 1000,
        seed: 7,
        virtual_s: 3600.0,
        wall_s: 12.5,
        samples,
        time_to_fill: vec![(0.5, Some(900.0)), (0.9, Some(1260.0)), (0.99, None)],
        bytes_per_node: Some(20_000),
        packets_lost: 10,
        packets_sent: 1_000_000,
    }
}

fn empty() -> SimReport {
    SimReport {
        scenario: "formation".to_string(),
        nodes: 0,
        seed: 1,
        virtual_s: 0.0,
        wall_s: 0.0,
        samples: Vec::new(),
        time_to_fill: Vec::new(),
        bytes_per_node: None,
        packets_lost: 0,
        packets_sent: 0,
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn writes_the_three_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nested/report");
    let report = synthetic(false);
    let paths = write_report(&report, &out).unwrap();
    let names: Vec<_> = paths
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap())
        .collect();
    assert_eq!(names, [SUMMARY_FILE, SAMPLES_FILE, SVG_FILE]);
    assert!(paths.iter().all(|p| p.starts_with(&out)));
    assert_eq!(read(&paths[0]), report.summary_text());
    assert_eq!(read(&paths[1]), report.samples_csv());
    assert_eq!(read(&paths[1]).lines().count(), 62);

    let svg = read(&paths[2]);
    assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
    assert!(svg.trim_end().ends_with("</svg>"));
    for text in [
        "sim formation: 1000 nodes, seed 7",
        "virtual minutes",
        "nodes with a filled table",
        "mean table fill",
        "lookup recall (16 closest)",
        "90 % level",
        "datagrams sent per node",
        "live honest nodes",
    ] {
        assert!(svg.contains(text), "missing {text:?}");
    }
    // honest_share was never measured: no right axis, no legend entry.
    assert!(!svg.contains("honest share"));
    // Recall markers: one per sample that has a recall.
    assert_eq!(svg.matches("<circle").count(), 59 + 2);
}

#[test]
fn eclipse_report_has_the_honest_share_axis() {
    let svg = render_svg(&synthetic(true)).unwrap();
    assert!(svg.contains("sim eclipse: 1000 nodes, seed 7"));
    assert!(svg.contains("honest share, in [0, 1]"));
    assert!(svg.contains("honest share of victim tables"));
}

#[test]
fn empty_report_still_writes_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_report(&empty(), dir.path()).unwrap();
    assert_eq!(paths.len(), 3);
    assert!(paths.iter().all(|p| p.is_file()));
    let svg = read(&paths[2]);
    assert!(svg.starts_with("<svg"));
    assert!(svg.contains("sim formation: 0 nodes, seed 1"));
    assert!(!svg.contains("NaN"));
}

#[test]
fn unmeasured_and_non_finite_values_are_left_out() {
    let mut report = synthetic(false);
    for s in &mut report.samples {
        s.recall = None;
        s.hops = None;
    }
    report.samples[3].mean_fill = f64::NAN;
    report.samples[4].pkts_per_node_min = f64::INFINITY;
    report.virtual_s = f64::NAN;
    let svg = render_svg(&report).unwrap();
    assert!(!svg.contains("lookup recall (16 closest)"));
    assert!(!svg.contains("NaN") && !svg.contains("inf"));
    assert_eq!(svg.matches("<circle").count(), 0);
}

#[test]
fn unwritable_directory_is_a_write_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    match write_report(&empty(), &file.join("sub")) {
        Err(SimError::Write { path, .. }) => assert_eq!(path, file.join("sub")),
        other => panic!("expected a write error, got {other:?}"),
    }
}
