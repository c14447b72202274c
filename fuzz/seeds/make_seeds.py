#!/usr/bin/env python3
"""Writes the seed corpus fuzz/corpus/<target>/seed-* from the repository's vectors and the
strings its unit tests use. Run from anywhere: `python3 fuzz/seeds/make_seeds.py`."""

import base64
import hashlib
import json
import pathlib
import re
import struct

FUZZ = pathlib.Path(__file__).resolve().parent.parent
REPO = FUZZ.parent
VECTORS = REPO / "tests" / "vectors"


def write(target, seeds):
    out = FUZZ / "corpus" / target
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("seed-*"):
        old.unlink()
    for data in seeds:
        if isinstance(data, str):
            data = data.encode()
        name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
        (out / name).write_bytes(data)
    print(f"{target}: {len(seeds)} seeds")


def request_head():
    heads = [
        "GET http://api.example.com/a/b?x=1 HTTP/1.1\r\nHost: api.example.com\r\n\r\n",
        "POST https://API.Example.COM.:8443/v1/items HTTP/1.1\r\nHost: evil.example\r\n"
        "Content-Length: 2\r\nConnection: close, X-Drop\r\nX-Drop: 1\r\n"
        "Proxy-Authorization: Basic dTpw\r\n\r\n",
        "CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n",
        "CONNECT [::1]:8443 HTTP/1.1\r\n\r\n",
        "GET /only/a/path HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n",
        "GET /x HTTP/1.0\r\nHost: xn--bcher-kva.example\r\n\r\n",
        "GET http://127.1/ HTTP/1.1\r\n\r\n",
        "GET http://0x7f.0.0.1:80/%2e%2e/etc HTTP/1.1\r\n\r\n",
        "GET http://[::ffff:127.0.0.1]:8080/a/./b/../c HTTP/1.1\r\n\r\n",
        "GET https://user:pw@example.com/ HTTP/1.1\r\n\r\n",
        "GET http://example.com HTTP/1.1\r\n\r\n",
        "GET http://2130706433/a%2Fb?q#f HTTP/1.1\r\n\r\n",
        "GET http://a_b.example/..%2F HTTP/1.1\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n",
        "GET ftp://example.com/ HTTP/1.1\r\n\r\n",
        "GET ws://example.com/chat HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        "GET http://example.com/chat HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nTE: trailers\r\n\r\n",
        "GET http://example.com/%7Euser/%41%62 HTTP/1.1\r\n\r\n",
        "GET http://example.com/a\\b HTTP/1.1\r\n\r\n",
    ]
    write("request_head", heads)


def challenge_headers():
    digest = json.loads((VECTORS / "http-digest" / "digest-vectors.json").read_text())
    ntlm = json.loads((VECTORS / "ntlm" / "ms-nlmp-4.2.json").read_text())
    values = []
    for case in digest["cases"] + digest.get("sess_and_auth_int_cases", []):
        values.append(case.get("www_authenticate"))
    seeds = []
    for v in values:
        if isinstance(v, list):
            seeds.append(b"\x00" + "\n".join(v).encode())
        elif isinstance(v, str):
            seeds.append(b"\x01" + v.encode())
    seeds += [
        b'\x00Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"',
        b'\x00Negotiate YIIB/w==, NTLM, Digest realm="r", nonce="n", Basic realm="b"',
        b'\x00Basic realm="a", Digest realm="unterminated',
        b'\x01Digest realm="r", nonce="1", algorithm=MD5, qop="auth"\nBasic realm="r", '
        b'Digest realm="r", nonce="2", algorithm=SHA-512-256-sess, qop="auth"',
        b'\x00DIGEST realm="r", nonce="n", opaque="o", stale=TRUE, userhash=true, charset=UTF-8, '
        b'domain="/a http://h/b", qop="auth-int,auth"',
        b'\x00Digest realm="r", nonce="n", qop="auth-int"',
        b'\x00Digest realm="a\\"b\\\\c", nonce="x,y", opaque=""',
        b"\x00Digest realm=r, nonce=n, nextnonce=\"m\"",
        b"\x02NTLM\nNegotiate",
        b"\x04Negotiate",
    ]
    for section in ("ntlmv1", "ntlmv2"):
        raw = bytes.fromhex(ntlm[section]["challenge_message"])
        token = base64.b64encode(raw)
        seeds.append(b"\x00NTLM " + token)
        seeds.append(b"\x0eNegotiate " + token + b"\nNTLM")
    write("challenge_headers", seeds)


def ntlm_challenge():
    ntlm = json.loads((VECTORS / "ntlm" / "ms-nlmp-4.2.json").read_text())
    seeds = [bytes.fromhex(ntlm[s]["challenge_message"]) for s in ("ntlmv1", "ntlmv2")]
    # A CHALLENGE with a timestamp and MsvAvFlags (a MIC is then sent).
    av = b""
    for av_id, value in [(2, "DOMAIN".encode("utf-16-le")), (1, "SERVER".encode("utf-16-le")),
                         (6, struct.pack("<I", 2)), (7, b"\x01" * 8), (10, b"\x00" * 16)]:
        av += struct.pack("<HH", av_id, len(value)) + value
    av += struct.pack("<HH", 0, 0)
    target = "DOMAIN".encode("utf-16-le")
    header_len = 56
    msg = b"NTLMSSP\x00" + struct.pack("<I", 2)
    msg += struct.pack("<HHI", len(target), len(target), header_len)
    msg += struct.pack("<I", 0xE28A8235) + bytes.fromhex("0123456789abcdef") + b"\x00" * 8
    msg += struct.pack("<HHI", len(av), len(av), header_len + len(target))
    msg += bytes([6, 1, 0xB1, 0x1D, 0, 0, 0, 0x0F]) + target + av
    seeds.append(msg)
    seeds.append(msg[:47])
    write("ntlm_challenge", seeds)


def token_response():
    bodies = [
        (0x00, b'{"access_token":"a","expires_in":"3600","scope":["read","write"]}'),
        (0x81, b'{"access_token":"a","token_type":"bearer","expires_in":60.0}'),
        (0x10, b"access_token=x%2By&scope=repo%2Cuser&token_type=bearer&expires_in=10"),
        (0x04, b'{"error":"invalid_client","error_description":"bad secret"}'),
        (0x06, b"<h1>Bad gateway</h1>"),
        (0x00, b'{"token_type":"bearer"}'),
        (0x40, b'{"access_token":"a","expires_in":"1e30"}'),
        (0x40, b'{"access_token":"a","expires_in":1e308}'),
        (0x20, b'{"access_token":"a","expires_in":0.5}'),
        (0x20, b'{"access_token":"a","expires_in":"NaN"}'),
        (0x00, b'{"access_token":"abc\\r\\ndef"}'),
        (0x00, b'{"access_token":"abc\\u00e9"}'),
        (0x00, b'{"access_token":"ok","id_token":"a\\tb"}'),
        (0x18, b"access_token=a%0Ab"),
        (0x00, b'{"access_token":"topsecret","refresh_token":"alsosecret","id_token":"x.y.z"}'),
        (0x00, b'{"access_token":12345,"expires_in":[1],"scope":"a,b c"}'),
    ]
    write("token_response", [bytes([c]) + b for c, b in bodies])


def config():
    seeds = [(REPO / "config.example.toml").read_text()]
    seeds += [
        '[ca]\ncert = "ca.crt"\nkey = "ca.key"\n\n[[host]]\nmatch = ["api.example.com"]\n'
        'auth = { type = "bearer", token = "${TOKEN}" }\n',
        '[proxy]\nlisten = "127.0.0.1:0"\nallow = ["*.example.com", "10.0.0.0/8"]\n'
        'deny = ["169.254.169.254"]\n\n[[host]]\nmatch = ["http://[::1]:8080", "host:*"]\n'
        'auth = { type = "digest", username = "u", password = "${file:secret.txt}", '
        'nonce_count = "0000000a" }\n',
        '[auth.n]\ntype = "ntlm"\nusername = "DOM\\\\user"\npassword = "${MISSING:-pw}"\n\n'
        '[[host]]\nmatch = ["intranet.example"]\nauth = "n"\ncookies = "sync"\n',
        '[auth.o]\ntype = "oauth2"\ngrant_type = "client_credentials"\n'
        'access_token_url = "https://login.example/token"\nclient_id = "c"\nclient_secret = "s"\n'
        'scope = "read write"\n\n[[host]]\nmatch = ["api.example.com"]\nauth = "o"\n'
        '[[host.route]]\npath = "/public/**"\nauth = "none"\n[[host.route]]\npath = "/a/*/b"\n'
        'methods = ["GET", "POST"]\n',
        '[auth.h]\ntype = "hawk"\nauth_id = "id"\nauth_key = "key"\nalgorithm = "sha1"\n'
        '[auth.e]\ntype = "edgegrid"\naccess_token = "a"\nclient_token = "c"\n'
        'client_secret = "s"\nheaders_to_sign = ["x-a"]\n[auth.k]\ntype = "apikey"\nkey = "k"\n'
        'value = "v"\nadd_to = "query"\n[auth.w]\ntype = "awsv4"\naccess_key = "AKID"\n'
        'secret_key = "s"\nregion = "us-east-1"\n[[host]]\nmatch = ["*.amazonaws.com"]\n'
        'auth = "w"\n[host.tls]\nca = "extra.pem"\n',
        '[auth.p]\ntype = "oauth1"\nconsumer_key = "k"\nsignature_method = "RSA-SHA256"\n'
        'private_key = "${PEM}"\n',
        'x = "$${literal} and ${EMPTY} ${SPACED} ${bad name} ${unterminated"\n',
    ]
    write("config", seeds)


def cookies_txt():
    curl = ("# Netscape HTTP Cookie File\n# https://curl.se/docs/http-cookies.html\n"
            "# This file was generated by libcurl! Edit at your own risk.\n\n"
            "#HttpOnly_app.example.test\tFALSE\t/\tTRUE\t0\tsession\tabc123\n"
            ".example.test\tTRUE\t/\tFALSE\t4102444800\tlang\ten\n"
            "app.example.test\tFALSE\t/api\tFALSE\t1\told\tx\n"
            ".com\tTRUE\t/\tFALSE\t0\ttracker\tevil\n")
    write("cookies_txt", [
        curl,
        "# c\nexample.test\tMAYBE\t/\tFALSE\t0\tn\tv\n",
        "a\tb\n",
        "localhost\tFALSE\t/\tTRUE\t4102444800.5\t__Host-id\t1\r\n"
        "[::1]\tFALSE\tnopath\tfalse\t0\tv6\t\n::1\tTRUE\t/x\tTRUE\t0\tbare\tv\n",
        "xn--bcher-kva.example\tTRUE\t/\tFALSE\t9999999999999\tidn\tü\n"
        ".co.uk\tTRUE\t/\tFALSE\t0\tpsl\tx\nexample.co.uk\tFALSE\t/\tFALSE\t-1\tneg\tx\n",
    ])


def set_cookie():
    seeds = [
        b"\x00SID=31d4d96e407aad42; Path=/; Secure; HttpOnly\nlang=en-US; Path=/; Domain=example.com",
        b"\x00lang=; Path=/; Domain=example.com; Expires=Sun, 06 Nov 1994 08:49:37 GMT",
        b"\x03k=v; Path=/\nk=gone; Path=/; Max-Age=0",
        b"\x00x=1; Domain=other.com\nx=1; Domain=ww.example.com",
        b"\x06x=1; Domain=co.uk\ny=2; Domain=.co.uk",
        b"\x01p=1\nd=1; Path=/docs\nfirst=1; Path=/\ndeep=2; Path=/x/y",
        b"\x02s=1; Secure\n__Secure-a=1\n__Host-b=1; Path=/",
        b"\x04s=1; Secure; SameSite=None\nh=1; SameSite=Lax; HttpOnly",
        b"\x00strict=1; SameSite=Strict\nlax=2; SameSite=Lax\nnone=3; SameSite=None; Secure\nplain=4",
        b"\x05v6=1; Path=/p; Max-Age=60",
        b"\x07gh=1; Domain=github.io\nab=1; Domain=b.github.io",
        b'\x00q="quoted value"; Expires=Wed, 21 Oct 2099 07:28:00 GMT; Max-Age=99999999999999',
    ]
    write("set_cookie", seeds)


def rule_matcher():
    text = (REPO / "src" / "rules" / "host_tests.rs").read_text()
    patterns = sorted(set(re.findall(r'pat\("([^"\\]*)"\)', text)))
    hosts = ("api.example.com 443\nAPI.EXAMPLE.COM.\nexample.com\nevilexample.com\n"
             "example.com.evil.net\na.b.example.com 8443 http\n127.0.0.1 80 http\n127.1\n[::1]\n"
             "::1 8443\nxn--bcher-kva.example\nbücher.example 80 http\n")
    seeds = [f"{p}\n{hosts}" for p in patterns[:40]]
    seeds += [
        f"*.example.com\n{hosts}", f"https://*.example.com:*\n{hosts}",
        f"http://api.example.com\n{hosts}", f"[::1]:8443\n{hosts}", f"host:*\nhost 1\nhost 65535 http",
        f"HTTP://127.0.0.1:8080\n{hosts}", f"bücher.example\n{hosts}",
    ]
    write("rule_matcher", seeds)


def aws_chunked():
    doc = json.loads((VECTORS / "aws-sigv4" / "s3-doc-examples.json").read_text())
    case = next(c for c in doc["cases"] if "chunks" in c)
    documented = b"".join(
        c["chunk_header"].encode() + b"\r\n" + b"a" * c["data_length"] + b"\r\n" for c in case["chunks"]
    )
    sig = ";chunk-signature=" + "0" * 64
    small = f"5{sig}\r\nhello\r\n6{sig}\r\n world\r\n0{sig}\r\n".encode()
    trailer = b"x-amz-checksum-crc32:DUoRhQ==\r\n"
    seeds = [
        # settings byte (form, decoded length given, structured), split seed, then the input.
        b"\x00\x07" + b"5\r\nhello\r\n6\r\n world\r\n0\r\n" + trailer + b"\r\n",
        b"\x00\x03" + b"3;ext=1\r\nabc\r\n0\r\n\r\n",
        b"\x01\x05" + small + b"\r\n",
        b"\x01\x00" + documented,
        b"\x02\x09" + small + trailer + b"x-amz-trailer-signature:" + b"0" * 64 + b"\r\n\r\n",
        b"\x05\x02" + small + b"\r\n",
        b"\x01\x0b" + small + trailer + b"\r\n",
        b"\x00\x01" + b"5\r\nhelloX\r\n",
        b"\x00\x01" + b"zz\r\n",
        b"\x01\x01" + b"5\r\nhello\r\n0\r\n\r\n",
        b"\x80\x11" + b"\x05hello\x06 world",
        b"\x81\x13" + b"\x05hello\x41x\x03abc",
        b"\x82\x17" + b"\x45hello\x06 world",
        b"\x86\x19" + b"\x3f" + bytes(range(63)),
    ]
    write("aws_chunked", seeds)


for make in (request_head, challenge_headers, ntlm_challenge, token_response, config,
             cookies_txt, set_cookie, rule_matcher, aws_chunked):
    make()
