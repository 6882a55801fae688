// bench/ws-load.js - websocket echo load generator (Node + the npm `ws` package).
//
//   node ws-load.js URL CONNECTIONS SECONDS SIZE
//
// Opens CONNECTIONS websockets to URL; each keeps exactly one message of SIZE
// bytes in flight (send, wait for the echo, send the next), so the figure is
// round trips per second.  After a one-second warm-up it counts echoes for
// SECONDS and prints one line of JSON: {"messages": n, "seconds": s,
// "rate": n/s, "errors": e}.  Echoes are checked for length and content.
'use strict';
const WebSocket = require('ws');

const [url, connsArg, secsArg, sizeArg] = process.argv.slice(2);
const conns = parseInt(connsArg || '50', 10);
const secs = parseFloat(secsArg || '5');
const size = parseInt(sizeArg || '64', 10);
if (!url || !(conns > 0) || !(secs > 0) || !(size >= 0)) {
    console.error('usage: node ws-load.js URL CONNECTIONS SECONDS SIZE');
    process.exit(2);
}

const payload = Buffer.alloc(size, 'x');
let counting = false;
let count = 0;
let errors = 0;
let opened = 0;
const sockets = [];

function finish(code) {
    for (const ws of sockets)
        ws.terminate();
    process.exit(code);
}

// Never run longer than warm-up + measurement + connection setup slack.
setTimeout(() => {
    console.error('ws-load: timed out');
    finish(1);
}, (secs + 20) * 1000).unref();

function start() {
    for (const ws of sockets)
        ws.send(payload);
    setTimeout(() => {
        counting = true;
        const t0 = process.hrtime.bigint();
        setTimeout(() => {
            counting = false;
            const s = Number(process.hrtime.bigint() - t0) / 1e9;
            console.log(JSON.stringify({messages: count, seconds: s, rate: count / s, errors}));
            finish(0);
        }, secs * 1000);
    }, 1000);
}

for (let i = 0; i < conns; i++) {
    const ws = new WebSocket(url, {perMessageDeflate: false});
    sockets.push(ws);
    ws.on('open', () => {
        if (++opened === conns)
            start();
    });
    ws.on('message', (data) => {
        if (data.length !== size || (size > 0 && data[size - 1] !== 0x78))
            errors++;
        if (counting)
            count++;
        ws.send(payload);
    });
    ws.on('error', (e) => {
        console.error('ws-load: ' + e.message);
        finish(1);
    });
    ws.on('close', () => {
        if (counting) {
            console.error('ws-load: server closed a connection');
            finish(1);
        }
    });
}
