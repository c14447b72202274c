use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::*;

/// A connected pair on 127.0.0.1: (the end the test holds, the end the relay gets).
async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let near = TcpStream::connect(listener.local_addr().unwrap());
    let (near, far) = tokio::join!(near, listener.accept());
    (near.unwrap(), far.unwrap().0)
}

/// `len` bytes that are not a short repeating pattern, so a lost or doubled piece shows.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// The client and origin ends of a tunnel relayed through `pool`, and the relay's task.
async fn tunnel(
    pool: &'static BufferPool,
    idle: Duration,
) -> (
    TcpStream,
    TcpStream,
    JoinHandle<Result<Carried, RelayError>>,
) {
    let (client, a) = pair().await;
    let (origin, b) = pair().await;
    let relay = tokio::spawn(relay(a, b, IdleTimeout::new(idle), pool));
    (client, origin, relay)
}

#[tokio::test]
async fn bytes_cross_exactly_both_ways_and_one_side_closing_leaves_the_other_open() {
    static POOL: BufferPool = BufferPool::new(4);
    let (mut client, mut origin, relay) = tunnel(&POOL, Duration::from_secs(30)).await;
    let up = pattern(3 * 1024 * 1024 + 17, 1);
    let down = pattern(2 * 1024 * 1024 + 5, 2);

    let (mut client_read, mut client_write) = client.split();
    let send_up = async {
        client_write.write_all(&up).await.unwrap();
        client_write.shutdown().await.unwrap();
    };
    // The origin reads the upload to its end, then answers: the client's end of input must
    // not have closed the way back.
    let origin_side = async {
        let mut got = Vec::new();
        origin.read_to_end(&mut got).await.unwrap();
        origin.write_all(&down).await.unwrap();
        origin.shutdown().await.unwrap();
        got
    };
    let read_down = async {
        let mut got = Vec::new();
        client_read.read_to_end(&mut got).await.unwrap();
        got
    };
    let ((), at_origin, at_client) = tokio::join!(send_up, origin_side, read_down);
    assert!(
        at_origin == up,
        "upload differs ({} bytes)",
        at_origin.len()
    );
    assert!(
        at_client == down,
        "download differs ({} bytes)",
        at_client.len()
    );

    let carried = relay.await.unwrap().unwrap();
    assert_eq!(carried.a_to_b, up.len() as u64);
    assert_eq!(carried.b_to_a, down.len() as u64);
    assert_eq!(POOL.lent(), 0);
}

#[tokio::test]
async fn an_idle_tunnel_holds_no_buffer() {
    static POOL: BufferPool = BufferPool::new(4);
    let (mut client, mut origin, relay) = tunnel(&POOL, Duration::from_secs(30)).await;
    let mut echo = [0u8; 5];
    for round in 0..3u8 {
        client.write_all(&[round; 5]).await.unwrap();
        origin.read_exact(&mut echo).await.unwrap();
        origin.write_all(&echo).await.unwrap();
        client.read_exact(&mut echo).await.unwrap();
        assert_eq!(echo, [round; 5]);
        // Both directions have delivered everything and wait for more: nothing is on loan.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(POOL.lent(), 0, "round {round}");
    }
    assert!(POOL.lent_ever() >= 6, "{} loans", POOL.lent_ever());
    assert!(!relay.is_finished());
}

#[tokio::test]
async fn a_tunnel_that_moves_nothing_is_closed_after_its_idle_timeout() {
    static POOL: BufferPool = BufferPool::new(4);
    let idle = Duration::from_millis(400);
    let (mut client, mut origin, relay) = tunnel(&POOL, idle).await;
    client.write_all(b"hello").await.unwrap();
    let mut got = [0u8; 5];
    origin.read_exact(&mut got).await.unwrap();
    let start = tokio::time::Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(5), relay)
        .await
        .expect("the idle tunnel was kept")
        .unwrap();
    let waited = start.elapsed();
    assert!(
        matches!(&ended, Err(RelayError::Idle(e)) if e.kind() == io::ErrorKind::TimedOut),
        "{ended:?}"
    );
    assert!(
        waited >= idle && waited <= idle * 2,
        "closed after {waited:?}"
    );
    // Both ends see the close.
    let mut rest = Vec::new();
    assert_eq!(client.read_to_end(&mut rest).await.unwrap(), 0);
    assert_eq!(origin.read_to_end(&mut rest).await.unwrap(), 0);
}

#[tokio::test]
async fn many_tunnels_at_once_each_carry_their_own_bytes() {
    static POOL: BufferPool = BufferPool::new(8);
    let mut tunnels = Vec::new();
    for i in 0..64u32 {
        let (client, origin, relay) = tunnel(&POOL, Duration::from_secs(30)).await;
        tunnels.push(tokio::spawn(async move {
            let mut client = client;
            let mut origin = origin;
            let data = pattern(100_000 + i as usize, i + 10);
            let (mut read_half, mut write_half) = client.split();
            let send = async {
                write_half.write_all(&data).await.unwrap();
                write_half.shutdown().await.unwrap();
            };
            // The origin echoes what it reads, then closes.
            let echo = async {
                let (mut from, mut to) = origin.split();
                tokio::io::copy(&mut from, &mut to).await.unwrap();
                to.shutdown().await.unwrap();
            };
            let receive = async {
                let mut got = Vec::new();
                read_half.read_to_end(&mut got).await.unwrap();
                got
            };
            let ((), (), got) = tokio::join!(send, echo, receive);
            assert!(got == data, "tunnel {i}: {} bytes back", got.len());
            relay.await.unwrap().unwrap()
        }));
    }
    for t in tunnels {
        let carried = t.await.unwrap();
        assert_eq!(carried.a_to_b, carried.b_to_a);
    }
    assert_eq!(POOL.lent(), 0);
}
