//! Real clients against Redoubt: the `redis` crate (sync and async, pipelines, MGET,
//! RESP3), `redis-cli` and `redis-benchmark`.

use std::time::Duration;

use redis::{AsyncCommands, Commands};

use crate::support::{run_to_exit, ServerProcess};

fn url(s: &ServerProcess) -> String {
    format!("redis://127.0.0.1:{}/", s.port)
}

#[test]
fn sync_client_set_get_incr_pipeline_mget() {
    let s = ServerProcess::redoubt(&[]);
    let client = redis::Client::open(url(&s)).expect("client");
    let mut con = client.get_connection_with_timeout(Duration::from_secs(5)).expect("connect");
    con.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let _: () = con.set("greeting", "hello").expect("SET");
    let got: String = con.get("greeting").expect("GET");
    assert_eq!(got, "hello");
    let missing: Option<String> = con.get("missing").expect("GET missing");
    assert_eq!(missing, None);
    let n: i64 = con.incr("counter", 1).expect("INCR");
    assert_eq!(n, 1);
    let n: i64 = con.incr("counter", 41).expect("INCRBY");
    assert_eq!(n, 42);
    let f: f64 = con.incr("float", 2.5).expect("INCRBYFLOAT");
    assert_eq!(f, 2.5);
    let bin: Vec<u8> = vec![0, 255, 13, 10, 0];
    let _: () = con.set(b"bin\x00key".as_slice(), bin.as_slice()).expect("SET binary");
    let back: Vec<u8> = con.get(b"bin\x00key".as_slice()).expect("GET binary");
    assert_eq!(back, bin);

    let (a, b, c): (String, i64, Option<String>) = redis::pipe()
        .set("p1", "one")
        .ignore()
        .get("p1")
        .incr("counter", 8)
        .get("nope")
        .query(&mut con)
        .expect("pipeline");
    assert_eq!((a.as_str(), b, c), ("one", 50, None));

    let _: () = redis::cmd("MSET").arg("m1").arg("1").arg("m2").arg("2").query(&mut con).expect("MSET");
    let values: Vec<Option<String>> = con.mget(&["m1", "nope", "m2"]).expect("MGET");
    assert_eq!(values, vec![Some("1".to_string()), None, Some("2".to_string())]);

    let ttl_set: bool = con.expire("m1", 100).expect("EXPIRE");
    assert!(ttl_set);
    let ttl: i64 = con.ttl("m1").expect("TTL");
    assert!((99..=100).contains(&ttl), "TTL {ttl}");
    let err = con.incr::<_, _, i64>("greeting", 1).expect_err("INCR on a non-integer");
    assert!(err.to_string().contains("value is not an integer"), "{err}");
    let db: i64 = redis::cmd("DBSIZE").query(&mut con).expect("DBSIZE");
    assert_eq!(db, 7);
}

#[test]
fn async_client_set_get_incr_pipeline_mget() {
    let s = ServerProcess::redoubt(&[]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let client = redis::Client::open(url(&s)).expect("client");
        let mut con = tokio::time::timeout(Duration::from_secs(5), client.get_multiplexed_async_connection())
            .await
            .expect("connect in time")
            .expect("connect");
        let work = async {
            let _: () = con.set("k", "v").await?;
            let v: String = con.get("k").await?;
            assert_eq!(v, "v");
            let n: i64 = con.incr("n", 5).await?;
            assert_eq!(n, 5);
            let (x, y): (i64, String) = redis::pipe().incr("n", 1).get("k").query_async(&mut con).await?;
            assert_eq!((x, y.as_str()), (6, "v"));
            // Many concurrent requests over the one multiplexed connection.
            let futures: Vec<_> = (0..200)
                .map(|i| {
                    let mut c = con.clone();
                    async move { c.set::<_, _, ()>(format!("c:{i}"), i).await }
                })
                .collect();
            for f in futures {
                f.await?;
            }
            let keys: Vec<String> = (0..200).map(|i| format!("c:{i}")).collect();
            let values: Vec<i64> = con.mget(&keys).await?;
            assert_eq!(values, (0..200).collect::<Vec<i64>>());
            Ok::<(), redis::RedisError>(())
        };
        tokio::time::timeout(Duration::from_secs(30), work).await.expect("finished in time").expect("commands");
    });
}

#[test]
fn resp3_client() {
    let s = ServerProcess::redoubt(&[]);
    let client = redis::Client::open(format!("{}?protocol=resp3", url(&s))).expect("client");
    let mut con = client.get_connection_with_timeout(Duration::from_secs(5)).expect("connect");
    let _: () = con.set("k", "v").expect("SET");
    let v: Option<String> = con.get("missing").expect("GET");
    assert_eq!(v, None);
    let cfg: std::collections::HashMap<String, String> =
        redis::cmd("CONFIG").arg("GET").arg("maxmemory").query(&mut con).expect("CONFIG GET");
    assert_eq!(cfg.get("maxmemory").map(String::as_str), Some("0"));
}

#[test]
fn redis_cli_and_redis_benchmark() {
    let s = ServerProcess::redoubt(&[]);
    let port = s.port.to_string();
    let cli = |args: &[&str]| {
        let mut all = vec!["-p", &port];
        all.extend_from_slice(args);
        run_to_exit("redis-cli", &all, &s.dir, Duration::from_secs(20))
    };
    assert_eq!(cli(&["PING"]).stdout, "PONG\n");
    assert_eq!(cli(&["SET", "k", "hello world"]).stdout, "OK\n");
    assert_eq!(cli(&["GET", "k"]).stdout, "hello world\n");
    assert_eq!(cli(&["--raw", "INCRBY", "n", "7"]).stdout, "7\n");
    assert_eq!(cli(&["--no-raw", "GET", "nope"]).stdout, "(nil)\n");
    let info = cli(&["INFO", "server"]).stdout;
    assert!(info.contains("redis_version:7.0.15"), "{info}");
    // redis-cli's own checks: --scan and --bigkeys parse SCAN/TYPE/STRLEN replies.
    let scan = cli(&["--scan", "--pattern", "*"]).stdout;
    let mut keys: Vec<&str> = scan.lines().collect();
    keys.sort();
    assert_eq!(keys, vec!["k", "n"]);
    let big = cli(&["--bigkeys"]);
    assert_eq!(big.code, Some(0), "{}{}", big.stdout, big.stderr);
    assert!(big.stdout.contains("Biggest string found"), "{}", big.stdout);

    let bench = run_to_exit(
        "redis-benchmark",
        &["-p", &port, "-q", "-n", "2000", "-c", "10", "-P", "4", "-t", "set,get,incr,mset"],
        &s.dir,
        Duration::from_secs(60),
    );
    assert_eq!(bench.code, Some(0), "{}{}", bench.stdout, bench.stderr);
    for t in ["SET:", "GET:", "INCR:", "MSET (10 keys):"] {
        assert!(bench.stdout.contains(t), "no {t} line in:\n{}", bench.stdout);
    }
    assert_eq!(cli(&["GET", "counter:__rand_int__"]).stdout, "2000\n");
}
