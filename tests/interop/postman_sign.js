#!/usr/bin/env node
// Signs one request exactly as Postman does: postman-runtime (Postman's own request runner and
// its authorizers, lib/authorizer/jwt.js and asap.js) runs a one-request collection against a
// server of this script's on 127.0.0.1, which records what arrived.
//
// Usage: postman_sign.js 'JSON'
//   JSON: {"type": "jwt" | "asap", "auth": {Postman's auth keys: algorithm, secret, ...},
//          "path": "/x?y=1" (optional), "now": Unix seconds to fix the clock at (optional)}
// Prints {"authorization": <header or null>, "url": <request target as received>}.

'use strict';

const http = require('http');
const runtime = require('postman-runtime');
const sdk = require('postman-collection');

const spec = JSON.parse(process.argv[2]);
let seen = null;

if (spec.now !== undefined) {
    // ASAP's iat/exp come from Date.now(): fix it so the token can be compared byte for byte.
    const fixed = spec.now * 1000;
    Date.now = () => fixed;
}

function fail (message) {
    process.stderr.write(`postman_sign: ${message}\n`);
    process.exit(1);
}

const server = http.createServer((req, res) => {
    seen = { authorization: req.headers.authorization || null, url: req.url };
    res.end('ok');
});

server.listen(0, '127.0.0.1', () => {
    const url = `http://127.0.0.1:${server.address().port}${spec.path || '/'}`;
    const auth = { type: spec.type };

    auth[spec.type] = Object.entries(spec.auth).map(([key, value]) => ({ key, value, type: 'any' }));
    const collection = new sdk.Collection({ item: [{ request: { url, method: 'GET', auth } }] });

    new runtime.Runner().run(collection, { timeout: { request: 10000 } }, (err, run) => {
        if (err) {
            fail(`runner: ${err}`);
        }
        run.start({
            request (error) {
                error && fail(`request: ${error.message || error}`);
            },
            console () {},
            exception (cursor, error) {
                fail(`exception: ${error && error.message}`);
            },
            done (error) {
                error && fail(`done: ${error.message || error}`);
                seen || fail('the request did not arrive');
                process.stdout.write(JSON.stringify(seen) + '\n');
                process.exit(0);
            }
        });
    });
});

setTimeout(() => fail('no request arrived within 20 s'), 20000).unref();
