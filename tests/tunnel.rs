//! Blind CONNECT tunnels (no rule names the host): bytes cross exactly both ways, one side's
//! end of input leaves the other direction open, many tunnels run at once, an idle one is
//! closed after `tunnel_idle_timeout`, and an idle one holds no buffer.

mod support;

use std::time::{Duration, Instant};

use support::Proxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

/// The buffer pool is one per process and one test counts its loans: the tests run one at a
/// time.
static POOL_COUNTED: Mutex<()> = Mutex::const_new(());

/// Long enough for anything under test, short enough to fail fast.
const BOUND: Duration = Duration::from_secs(10);

/// `len` bytes that do not repeat within a buffer, so a lost, doubled or reordered piece shows.
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

/// An origin that, per connection, reads to the client's end of input, then sends `answer`
/// and closes; each upload it read comes out of the returned channel.
async fn answering_origin(answer: Vec<u8>) -> (u16, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (uploads, received) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (answer, uploads) = (answer.clone(), uploads.clone());
            tokio::spawn(async move {
                let mut got = Vec::new();
                socket.read_to_end(&mut got).await.unwrap();
                socket.write_all(&answer).await.unwrap();
                socket.shutdown().await.unwrap();
                let _ = uploads.send(got);
            });
        }
    });
    (port, received)
}

/// An origin that echoes every connection's bytes and closes after the client's end of input.
async fn echo_origin() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut from, mut to) = socket.split();
                if tokio::io::copy(&mut from, &mut to).await.is_ok() {
                    let _ = to.shutdown().await;
                }
            });
        }
    });
    port
}

/// `CONNECT 127.0.0.1:port` on a fresh connection, with `early` sent right behind the request
/// head (before the answer, as a client that does not wait for it would); the tunnel once the
/// 200 has been read.
async fn open(proxy: std::net::SocketAddr, port: u16, early: &[u8]) -> TcpStream {
    let mut tcp = TcpStream::connect(proxy).await.unwrap();
    let mut head =
        format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").into_bytes();
    head.extend_from_slice(early);
    tcp.write_all(&head).await.unwrap();
    // Byte by byte: whatever follows the answer's head belongs to the tunnel.
    let mut answer = Vec::new();
    while !answer.ends_with(b"\r\n\r\n") {
        answer.push(tcp.read_u8().await.unwrap());
    }
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    tcp
}

/// Reads until the peer closes, within `BOUND`.
async fn read_to_close(tcp: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    tokio::time::timeout(BOUND, tcp.read_to_end(&mut all))
        .await
        .expect("the tunnel was not closed")
        .unwrap();
    all
}

#[tokio::test]
async fn bytes_cross_exactly_both_ways_and_the_way_back_outlives_the_clients_end_of_input() {
    let _one_at_a_time = POOL_COUNTED.lock().await;
    let up = pattern(5 * 1024 * 1024 + 3, 7);
    let down = pattern(3 * 1024 * 1024 + 11, 8);
    let (port, mut uploads) = answering_origin(down.clone()).await;
    let proxy = Proxy::start("").await;
    let early = b"sent before the answer: ";
    let mut tunnel = open(proxy.addr(), port, early).await;

    let (mut read_half, mut write_half) = tunnel.split();
    let send = async {
        write_half.write_all(&up).await.unwrap();
        write_half.shutdown().await.unwrap();
    };
    // The origin answers only once the upload has ended: the client's half-close must reach it
    // and leave the way back open.
    let receive = async {
        let mut got = Vec::new();
        tokio::time::timeout(BOUND, read_half.read_to_end(&mut got))
            .await
            .expect("no answer through the half-closed tunnel")
            .unwrap();
        got
    };
    let ((), at_client) = tokio::join!(send, receive);
    let at_origin = uploads.recv().await.unwrap();
    assert!(at_origin.starts_with(early), "the early bytes were lost");
    assert!(
        at_origin[early.len()..] == up[..],
        "upload differs: {} bytes of {}",
        at_origin.len() - early.len(),
        up.len()
    );
    assert!(
        at_client == down,
        "download differs: {} bytes of {}",
        at_client.len(),
        down.len()
    );
}

#[tokio::test]
async fn many_tunnels_at_once_each_carry_their_own_bytes() {
    let _one_at_a_time = POOL_COUNTED.lock().await;
    let port = echo_origin().await;
    let proxy = Proxy::start("").await;
    let addr = proxy.addr();
    let clients: Vec<_> = (0..200u32)
        .map(|i| {
            tokio::spawn(async move {
                let mut tunnel = open(addr, port, b"").await;
                let data = pattern(64 * 1024 + i as usize * 97, i + 100);
                let (mut read_half, mut write_half) = tunnel.split();
                let send = async {
                    write_half.write_all(&data).await.unwrap();
                    write_half.shutdown().await.unwrap();
                };
                let receive = async {
                    let mut got = Vec::new();
                    read_half.read_to_end(&mut got).await.unwrap();
                    got
                };
                let ((), got) = tokio::time::timeout(BOUND, async { tokio::join!(send, receive) })
                    .await
                    .expect("a tunnel stalled");
                assert!(
                    got == data,
                    "tunnel {i}: {} of {} bytes",
                    got.len(),
                    data.len()
                );
            })
        })
        .collect();
    for client in clients {
        client.await.unwrap();
    }
}

#[tokio::test]
async fn a_tunnel_is_kept_while_bytes_move_and_closed_after_tunnel_idle_timeout() {
    let _one_at_a_time = POOL_COUNTED.lock().await;
    let port = echo_origin().await;
    // The client connection's own idle timeout is shorter: the tunnel's is what counts.
    let proxy = Proxy::start("[proxy]\nidle_timeout = 1\ntunnel_idle_timeout = 2\n").await;
    let mut tunnel = open(proxy.addr(), port, b"").await;
    let mut echo = [0u8; 1];
    // A byte every half second for four seconds: twice the timeout, never idle for it.
    for i in 0..8u8 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        tunnel.write_all(&[i]).await.unwrap();
        tunnel.read_exact(&mut echo).await.unwrap();
        assert_eq!(echo, [i]);
    }
    let start = Instant::now();
    assert_eq!(read_to_close(&mut tunnel).await, b"");
    let waited = start.elapsed();
    // Closed after one to one and a half timeouts, with room for a loaded machine.
    assert!(
        waited >= Duration::from_millis(1900) && waited <= Duration::from_secs(5),
        "closed after {waited:?}"
    );
}

#[tokio::test]
async fn an_idle_tunnel_holds_no_buffer() {
    let _one_at_a_time = POOL_COUNTED.lock().await;
    let pool = signet::proxy::tunnel_buffers();
    let port = echo_origin().await;
    let proxy = Proxy::start("").await;
    let loans_before = pool.lent_ever();
    let mut tunnels = Vec::new();
    for i in 0..20u8 {
        let mut tunnel = open(proxy.addr(), port, b"").await;
        let data = pattern(100_000, u32::from(i));
        tunnel.write_all(&data).await.unwrap();
        let mut back = vec![0u8; data.len()];
        tunnel.read_exact(&mut back).await.unwrap();
        assert!(back == data, "tunnel {i}");
        tunnels.push(tunnel);
    }
    // Every tunnel has moved its bytes through pooled buffers, and holds none now it is idle.
    assert!(pool.lent_ever() - loans_before >= 40);
    let deadline = Instant::now() + BOUND;
    while pool.lent() != 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        pool.lent(),
        0,
        "buffers held by {} idle tunnels",
        tunnels.len()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(pool.lent(), 0);
}
