use super::*;

// Proves pgbench's summary line is read, whatever else it prints.
#[test]
fn reads_pgbench_tps() {
    let output = "latency average = 42.407 ms\ninitial connection time = 335.410 ms\n\
                  tps = 1509.202305 (without initial connection time)\n";
    assert_eq!(parse_pgbench_tps(output), Some(1509.202305));
    assert_eq!(parse_pgbench_tps("nothing"), None);
}

// Proves the connection details pgbench needs are taken from URLs with a socket or a password.
#[test]
fn reads_the_server_address_from_the_url() {
    let socket =
        ServerAddress::from_url("postgres://kasa@localhost:5433/kasa?host=/tmp/kasa-pg").unwrap();
    assert_eq!(
        (socket.host.as_str(), socket.port, socket.user.as_str()),
        ("/tmp/kasa-pg", 5433, "kasa")
    );
    assert_eq!(socket.password, None);
    let tcp = ServerAddress::from_url("postgres://app:p%40ss@db.internal:6543/kasa").unwrap();
    assert_eq!(
        (tcp.host.as_str(), tcp.port, tcp.password.as_deref()),
        ("db.internal", 6543, Some("p@ss"))
    );
}
