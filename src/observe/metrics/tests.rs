//! Layout, recording, deltas, merging and the text format.

use super::*;

fn layout() -> Arc<Layout> {
    Arc::new(Layout::new(
        &[
            ApiShape {
                name: "shop".into(),
                protocol: Protocol::Rest,
                stages: vec![
                    StageShape {
                        name: "prod".into(),
                        deployments: vec![(0, vec!["GET /pets".into(), "GET /pets/{id}".into()])],
                    },
                    StageShape {
                        name: "beta".into(),
                        // A canary: deployment 1 has one route more.
                        deployments: vec![
                            (0, vec!["GET /pets".into(), "GET /pets/{id}".into()]),
                            (
                                1,
                                vec![
                                    "GET /pets".into(),
                                    "GET /pets/{id}".into(),
                                    "POST /pets".into(),
                                ],
                            ),
                        ],
                    },
                ],
            },
            ApiShape {
                name: "edge".into(),
                protocol: Protocol::Http,
                stages: vec![StageShape {
                    name: "$default".into(),
                    deployments: vec![(0, vec!["$default".into()])],
                }],
            },
        ],
        &["backend".into()],
        Protocol::Rest,
    ))
}

#[test]
fn slots_name_their_series() {
    let l = layout();
    let s = l.slot(0, 1, 0, Some(1));
    assert_eq!(&*l.labels(s).stage, "beta");
    assert_eq!(&*l.labels(s).route, "GET /pets/{id}");
    let canary = l.slot(0, 1, 1, Some(2));
    assert_eq!(&*l.labels(canary).route, "POST /pets");
    assert_ne!(l.slot(0, 1, 1, Some(1)), s, "each deployment has its slots");
    assert_eq!(
        l.labels(l.slot(0, 1, 1, Some(1))),
        l.labels(s),
        "with the same labels"
    );
    assert_eq!(&*l.labels(l.slot(0, 0, 0, None)).route, "-");
    assert_eq!(&*l.labels(l.slot(1, 0, 0, Some(0))).api, "edge");
    assert_eq!(&*l.labels(l.unrouted()).api, "");
    // Out of range: the stage's "no route" slot, or unrouted.
    assert_eq!(l.slot(0, 0, 7, Some(0)), l.slot(0, 0, 0, None));
    assert_eq!(l.slot(0, 0, 0, Some(9)), l.slot(0, 0, 0, None));
    assert_eq!(l.slot(5, 0, 0, None), l.unrouted());
    // prod (2 + none) + beta (2 + 3 + none) + edge (1 + none) + unrouted
    assert_eq!(l.len(), 3 + 6 + 2 + 1);
}

#[test]
fn deltas_merge_by_labels_and_reset_the_worker() {
    let m = Metrics::new(layout());
    let s = m.layout().slot(0, 0, 0, Some(0));
    let o = |status, lat| Outcome {
        status,
        latency_us: lat,
        integration_latency_us: None,
        bytes: 10,
    };
    m.record(s, &o(200, 1_000));
    m.record(s, &o(404, 2_000));
    m.record(s, &o(502, 3_000));
    m.cache_hit(s);
    m.cache_miss(s);
    m.throttled(s);
    m.upstream(0, true);
    m.upstream(0, false);
    m.upstream(0, true);
    let d = m.take_delta(0).expect("a delta");
    assert!(m.take_delta(0).is_none(), "nothing new since");
    let mut r = Registry::default();
    r.merge(d);
    // A second worker with another layout instance (a reload) adds to the same series.
    let m2 = Metrics::new(layout());
    m2.record(m2.layout().slot(0, 0, 0, Some(0)), &o(200, 4_000));
    r.merge(m2.take_delta(1).unwrap());
    let t = r.get("shop", "prod", "GET /pets").unwrap();
    assert_eq!(
        t.counts,
        Counts {
            count: 4,
            err4: 1,
            err5: 1,
            cache_hit: 1,
            cache_miss: 1,
            throttled: 1,
            data_processed: 40,
            latency_sum_us: 10_000,
            integration_count: 0,
            integration_sum_us: 0,
        }
    );
    assert_eq!(t.latency.len(), 4);
    let text = r.render(&[], &[]);
    assert!(text.contains("tollgate_Count{api=\"shop\",stage=\"prod\",route=\"GET /pets\"} 4\n"));
    assert!(
        text.contains("tollgate_4XXError{api=\"shop\",stage=\"prod\",route=\"GET /pets\"} 1\n")
    );
    assert!(
        !text.contains("tollgate_4xx{"),
        "REST series only under REST names"
    );
    assert!(
        text.contains("tollgate_upstream_requests{upstream=\"backend\",connection=\"reused\"} 2\n")
    );
    assert!(text.contains(
        "tollgate_upstream_connection_reuse_ratio{upstream=\"backend\"} 0.6666666666666666\n"
    ));
    assert!(text.contains(
        "tollgate_Latency_bucket{api=\"shop\",stage=\"prod\",route=\"GET /pets\",le=\"2.5\"} 2\n"
    ));
    assert!(text.contains(
        "tollgate_Latency_bucket{api=\"shop\",stage=\"prod\",route=\"GET /pets\",le=\"+Inf\"} 4\n"
    ));
    assert!(
        text.contains("tollgate_Latency_sum{api=\"shop\",stage=\"prod\",route=\"GET /pets\"} 10\n")
    );
    assert!(text.contains(
        "tollgate_Latency_quantile{api=\"shop\",stage=\"prod\",route=\"GET /pets\",quantile=\"0.5\"} 2"
    ));
    assert!(
        !text.contains("tollgate_IntegrationLatency_count"),
        "no integration answered"
    );
}

#[test]
fn http_api_series_use_http_names() {
    let m = Metrics::new(layout());
    let s = m.layout().slot(1, 0, 0, Some(0));
    m.record(
        s,
        &Outcome {
            status: 503,
            latency_us: 5,
            integration_latency_us: Some(3),
            bytes: 100,
        },
    );
    let mut r = Registry::default();
    r.merge(m.take_delta(0).unwrap());
    let text = r.render(
        &[WorkerFacts {
            index: 0,
            cpu: Some(3),
            driver: Some("io_uring"),
        }],
        &[LogFacts {
            destination: "/var/log/a \"b\".log".into(),
            lines: 7,
            dropped: 2,
            write_errors: 0,
            reopens: 1,
        }],
    );
    assert!(text.contains("tollgate_5xx{api=\"edge\",stage=\"$default\",route=\"$default\"} 1\n"));
    assert!(!text.contains("tollgate_5XXError{api=\"edge\""));
    assert!(text.contains(
        "tollgate_DataProcessed{api=\"edge\",stage=\"$default\",route=\"$default\"} 100\n"
    ));
    assert!(text.contains(
        "tollgate_IntegrationLatency_count{api=\"edge\",stage=\"$default\",route=\"$default\"} 1\n"
    ));
    assert!(text.contains("tollgate_worker_info{worker=\"0\",cpu=\"3\",driver=\"io_uring\"} 1\n"));
    assert!(text.contains("tollgate_worker_requests{worker=\"0\"} 1\n"));
    assert!(text.contains(
        "tollgate_access_log_dropped_lines{destination=\"/var/log/a \\\"b\\\".log\"} 2\n"
    ));
}

#[test]
fn every_sample_line_is_well_formed() {
    let m = Metrics::new(layout());
    m.record(
        m.layout().unrouted(),
        &Outcome {
            status: 400,
            ..Outcome::default()
        },
    );
    let mut r = Registry::default();
    r.merge(m.take_delta(0).unwrap());
    for line in r.render(&[], &[]).lines() {
        if line.starts_with('#') {
            assert!(
                line.starts_with("# HELP ") || line.starts_with("# TYPE "),
                "{line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
        assert!(series.ends_with('}'), "{line}");
    }
}

#[test]
fn hub_merges_from_senders() {
    let hub = Hub::default();
    let tx = hub.sender();
    let m = Metrics::new(layout());
    m.record(
        m.layout().unrouted(),
        &Outcome {
            status: 200,
            ..Outcome::default()
        },
    );
    tx.send(m.take_delta(0).unwrap()).unwrap();
    let n = hub.with_registry(|r| r.get("", "", "").map(|t| t.counts.count));
    assert_eq!(n, Some(1));
}
