//! aws-chunked upload bodies through the SigV4 re-signer (`signet::auth::awsv4::chunked`), fed
//! in arbitrary pieces.
//!
//! Input: one byte of settings (bits 0-1: the form, unsigned / signed / signed with a trailer;
//! bit 2: an `x-amz-decoded-content-length` is given; bit 7: the rest describes chunks to
//! encode into a well-formed stream rather than being the stream itself), one byte seeding
//! where the input is cut, then the rest.
//!
//! Properties: nothing panics; the output and the outcome are the same however the input is
//! cut; a well-formed stream is accepted, and then the output is well-formed: the unsigned
//! form comes out unchanged, a signed form as chunks of `SIGNED_CHUNK` bytes (the last shorter)
//! each with a 64-hex-digit signature, the same data, the trailer's lines plus its signature,
//! and without a trailer exactly `signed_length` bytes long.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use signet::auth::awsv4::chunked::{
    AwsChunked, ChunkError, ChunkSigner, SIGNED_CHUNK, signed_length,
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Unsigned,
    Signed,
    SignedTrailer,
}

fn rewriter(form: Form, decoded: Option<u64>) -> AwsChunked {
    let signer = || {
        ChunkSigner::new(
            [7u8; 32],
            "20130524T000000Z",
            "20130524/us-east-1/s3/aws4_request",
            &"4f".repeat(32),
        )
    };
    match form {
        Form::Unsigned => AwsChunked::unsigned(decoded),
        Form::Signed => AwsChunked::signed(signer(), false, decoded),
        Form::SignedTrailer => AwsChunked::signed(signer(), true, decoded),
    }
}

/// Feeds `input` in pieces whose lengths come from `seed` (0: all at once), then finishes.
fn run(mut r: AwsChunked, input: &[u8], seed: u8) -> Result<Vec<u8>, ChunkError> {
    let mut out = BytesMut::new();
    if seed == 0 {
        r.feed(input, &mut out)?;
    } else {
        let mut state = u32::from(seed);
        let mut rest = input;
        while !rest.is_empty() {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let take = (1 + (state >> 16) as usize % 97).min(rest.len());
            let (piece, tail) = rest.split_at(take);
            r.feed(piece, &mut out)?;
            rest = tail;
        }
    }
    r.finish(&mut out)?;
    Ok(out.to_vec())
}

/// A well-formed stream of the form: one chunk per `len` byte of `spec`, its data the bytes
/// that follow (bit 6 of `len`: repeated to 64 KiB + 300, for at most four chunks), and a
/// trailer when the form has one.
fn encode(form: Form, spec: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut stream = Vec::new();
    let mut data = Vec::new();
    let mut large = 0;
    let mut rest = spec;
    while let Some((&len, tail)) = rest.split_first() {
        let (piece, tail) = tail.split_at(usize::from(len & 0x3f).min(tail.len()));
        rest = tail;
        if piece.is_empty() {
            continue;
        }
        let size = if len & 0x40 != 0 && large < 4 {
            large += 1;
            SIGNED_CHUNK + 300
        } else {
            piece.len()
        };
        let chunk: Vec<u8> = piece.iter().copied().cycle().take(size).collect();
        let ext = match form {
            Form::Unsigned => String::new(),
            _ => format!(";chunk-signature={}", "ab".repeat(32)),
        };
        stream.extend_from_slice(format!("{:x}{ext}\r\n", chunk.len()).as_bytes());
        stream.extend_from_slice(&chunk);
        stream.extend_from_slice(b"\r\n");
        data.extend_from_slice(&chunk);
    }
    match form {
        Form::Unsigned => stream.extend_from_slice(b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"),
        Form::Signed => {
            stream.extend_from_slice(format!("0;chunk-signature={}\r\n\r\n", "cd".repeat(32)).as_bytes())
        }
        Form::SignedTrailer => stream.extend_from_slice(
            format!(
                "0;chunk-signature={}\r\nx-amz-checksum-crc32:AAAAAA==\r\nx-amz-trailer-signature:{}\r\n\r\n",
                "cd".repeat(32),
                "ef".repeat(32)
            )
            .as_bytes(),
        ),
    }
    (stream, data)
}

/// The data of a stream the re-signer accepted, read leniently (any chunk extensions).
fn decode_input(stream: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    let mut at = 0;
    loop {
        let end = at + stream[at..].windows(2).position(|w| w == b"\r\n").expect("a size line");
        let digits = stream[at..end].split(|&b| b == b';').next().unwrap();
        let digits = std::str::from_utf8(digits).expect("ASCII hex digits");
        let size = usize::from_str_radix(digits, 16).expect("a hex size");
        at = end + 2;
        if size == 0 {
            return data;
        }
        data.extend_from_slice(&stream[at..at + size]);
        at += size + 2;
    }
}

/// Reads a signed stream signet wrote: its data and trailer lines, or panics on bad framing.
fn parse_signed(out: &[u8], trailer: bool) -> (Vec<u8>, Vec<Vec<u8>>) {
    let line = |at: usize| -> (&[u8], usize) {
        let end = out[at..].windows(2).position(|w| w == b"\r\n").expect("a line ends in CRLF");
        (&out[at..at + end], at + end + 2)
    };
    let mut data = Vec::new();
    let mut at = 0;
    let mut sizes = Vec::new();
    loop {
        let (header, next) = line(at);
        let text = std::str::from_utf8(header).expect("an ASCII chunk header");
        let (size, sig) = text.split_once(";chunk-signature=").expect("a chunk-signature");
        assert!(sig.len() == 64 && sig.bytes().all(|b| b.is_ascii_hexdigit()), "{sig}");
        let size = usize::from_str_radix(size, 16).expect("a hex size");
        sizes.push(size);
        at = next;
        if size == 0 {
            break;
        }
        data.extend_from_slice(&out[at..at + size]);
        assert_eq!(&out[at + size..at + size + 2], b"\r\n");
        at += size + 2;
    }
    let data_chunks = &sizes[..sizes.len() - 1];
    if let Some((last, whole)) = data_chunks.split_last() {
        assert!(whole.iter().all(|&s| s == SIGNED_CHUNK) && *last <= SIGNED_CHUNK, "{sizes:?}");
    }
    let mut lines = Vec::new();
    loop {
        let (l, next) = line(at);
        at = next;
        if l.is_empty() {
            break;
        }
        lines.push(l.to_vec());
    }
    assert_eq!(at, out.len(), "bytes after the end");
    if trailer {
        let sig = lines.pop().expect("a trailer signature");
        assert!(sig.starts_with(b"x-amz-trailer-signature:") && sig.len() == 24 + 64);
    } else {
        assert!(lines.is_empty(), "a trailer in a form without one");
    }
    (data, lines)
}

fuzz_target!(|input: &[u8]| {
    let Some((&settings, rest)) = input.split_first() else {
        return;
    };
    let Some((&seed, rest)) = rest.split_first() else {
        return;
    };
    let form = match settings & 3 {
        0 | 3 => Form::Unsigned,
        1 => Form::Signed,
        _ => Form::SignedTrailer,
    };
    let structured = settings & 0x80 != 0;
    let (stream, known) = if structured {
        let (stream, data) = encode(form, rest);
        (stream, Some(data))
    } else {
        (rest.to_vec(), None)
    };
    let decoded = if settings & 4 != 0 {
        Some(known.as_ref().map_or(rest.len() as u64 / 2, |d| d.len() as u64))
    } else {
        None
    };

    let whole = run(rewriter(form, decoded), &stream, 0);
    let split = run(rewriter(form, decoded), &stream, seed | 1);
    assert_eq!(whole, split, "the outcome depends on how the input is cut");
    if known.is_some() {
        assert!(whole.is_ok(), "a well-formed stream was refused: {whole:?}");
    }
    let Ok(out) = whole else {
        return;
    };
    match form {
        Form::Unsigned => assert_eq!(out, stream, "the unsigned form changed"),
        Form::Signed | Form::SignedTrailer => {
            let (data, lines) = parse_signed(&out, form == Form::SignedTrailer);
            let sent = known.clone().unwrap_or_else(|| decode_input(&stream));
            assert_eq!(data, sent, "the data changed");
            if let Some(decoded) = decoded {
                assert_eq!(data.len() as u64, decoded);
            }
            if form == Form::Signed {
                assert_eq!(Some(out.len() as u64), signed_length(data.len() as u64));
            }
            if known.is_some() && form == Form::SignedTrailer {
                assert_eq!(lines, vec![b"x-amz-checksum-crc32:AAAAAA==".to_vec()]);
            }
        }
    }
});
