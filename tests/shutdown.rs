//! Black-box: graceful shutdown on SIGTERM.

mod common;

use common::*;
use std::io::Write;
use std::time::{Duration, Instant};

#[test]
fn sigterm_lets_in_flight_requests_finish_then_exits_zero() {
    let backend = Backend::start(|_| Reply::Slow {
        delay: Duration::from_millis(1500),
        body: b"finished".to_vec(),
    });
    let yaml = format!(
        r#"
listeners:
  - name: main
    address: 127.0.0.1:0
apis:
  - name: shop
    protocol: http
    stages: ["$default"]
    routes:
      - route: $default
        integration: {{type: http_proxy, uri: "http://{}"}}
"#,
        backend.addr
    );
    let mut gw = Gateway::start(&yaml);
    let addr = gw.addr();
    // An idle keep-alive connection, and one with a request in flight.
    let mut idle = connect(addr);
    let mut busy = connect(addr);
    busy.write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    gw.signal(libc::SIGTERM);
    let r = read_response(&mut busy, &mut Vec::new(), false).expect("in-flight request completes");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "finished");
    assert_eq!(r.header("connection"), Some("close"));
    assert!(is_closed(&mut idle), "idle connection closed on drain");
    let code = gw.wait_exit(Duration::from_secs(10));
    assert_eq!(code, Some(0), "stderr:\n{}", gw.stderr());
    assert!(t.elapsed() < Duration::from_secs(8));
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still accepting after exit"
    );
}
