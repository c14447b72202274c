// The npm `http-auth` Digest verifier (MD5-sess, qop=auth, rising nc per nonce) on 127.0.0.1.
// Usage: node digest_npm_server.js PORT HTDIGEST_FILE LOG_FILE
// Every answer is logged as "status nonce" so that tests count 401s on the server side.
const fs = require("fs");
const http = require("http");
const auth = require("http-auth");

const [port, file, log] = process.argv.slice(2);
const digest = auth.digest({ realm: "signet-test", file, algorithm: "MD5-sess" });

const server = http.createServer((req, res) => {
  res.on("finish", () => {
    const m = /nonce="([^"]*)"/.exec(req.headers.authorization || "");
    fs.appendFileSync(log, `${res.statusCode} ${m ? m[1] : "-"}\n`);
  });
  digest.check((req, res) => res.end(`hello ${req.user}`))(req, res);
});
server.listen(Number(port), "127.0.0.1");
