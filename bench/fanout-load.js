// bench/fanout-load.js - the fan-out bench's load generator (bench/fanout.py).
//
// CLIENTS websockets (npm `ws`), spread in turn over the servers in URLS,
// each sending RATE broadcasts per second (a list: one step each, STEP
// seconds, growing until saturation), every one of which every client should
// receive.  Speaks either our plain websocket route (PROTO=rampart: a text
// message is broadcast as it is) or Engine.IO 4 / Socket.IO 4 over a
// websocket (PROTO=sio: '42["m",...]'), so both peers pay the same client
// cost.  A message carries its send time; the receiver's clock is the same
// process's, so latency is exact.  One JSON line per step on stdout:
//   {rate, expected, delivered, per_s, p50, p99, cpu_servers, cpu_redis}
// cpu_* are seconds of CPU (utime + stime from /proc) of the PIDS and REDIS_PID
// over the step.  Stops after the first saturated step (delivered < 90% of
// expected, or p99 over 1 s), or when the list ends.
"use strict";
const WebSocket = require("ws");
const fs = require("fs");

const PROTO = process.env.PROTO || "rampart";
const URLS = process.env.URLS.split(",");
const N = parseInt(process.env.CLIENTS || "200");
const RATES = (process.env.RATES || "0.5,1,2,4,8").split(",").map(Number);
const STEP = parseFloat(process.env.STEP || "3");
const GRACE = 1500;
const PIDS = (process.env.PIDS || "").split(",").filter(Boolean).map(Number);
const REDIS_PID = parseInt(process.env.REDIS_PID || "0");
const TICKS = 100; // clk_tck on Linux

function cpu(pid) {
    try {
        const f = fs.readFileSync("/proc/" + pid + "/stat", "utf8");
        const v = f.slice(f.lastIndexOf(")") + 2).split(" ");
        return (Number(v[11]) + Number(v[12])) / TICKS;
    } catch (e) {
        return 0;
    }
}
const cpuOf = (pids) => pids.reduce((a, p) => a + cpu(p), 0);

// latency histogram: 0.05 ms buckets up to 20 s
const RES = 0.05, NB = 400000;
let hist = new Uint32Array(NB), count = 0, step = -1, warm = new Set();

function received(text) {
    // "<client> <ms> <step>"
    const sp1 = text.indexOf(" "), sp2 = text.lastIndexOf(" ");
    const s = Number(text.slice(sp2 + 1));
    if (s === -1) {
        warm.add(this.idx);
        return;
    }
    if (s !== step)
        return;
    const lat = performance.now() - Number(text.slice(sp1 + 1, sp2));
    hist[Math.min(NB - 1, Math.max(0, Math.floor(lat / RES)))]++;
    count++;
}

function quantile(q) {
    let want = Math.ceil(count * q), seen = 0;
    for (let i = 0; i < NB; i++) {
        seen += hist[i];
        if (seen >= want && want > 0)
            return (i + 1) * RES;
    }
    return NaN;
}

function open(i) {
    const base = URLS[i % URLS.length];
    const url = PROTO === "sio" ? "ws://" + base + "/socket.io/?EIO=4&transport=websocket"
                                : "ws://" + base + "/ws";
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.idx = i;
    return new Promise((resolve, reject) => {
        ws.on("error", reject);
        if (PROTO === "sio") {
            ws.on("message", (d) => {
                const t = d.toString();
                if (t.startsWith("42")) {
                    received.call(ws, JSON.parse(t.slice(2))[1]);
                } else if (t === "2") {
                    ws.send("3");
                } else if (t[0] === "0") {
                    ws.send("40");
                } else if (t.startsWith("40")) {
                    resolve(ws);
                }
            });
            ws.emitMsg = (m) => ws.send('42["m",' + JSON.stringify(m) + "]");
        } else {
            ws.on("message", (d) => received.call(ws, d.toString()));
            ws.on("open", () => resolve(ws));
            ws.emitMsg = (m) => ws.send(m);
        }
    });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
    const socks = [];
    for (let i = 0; i < N; i += 20) {
        const batch = [];
        for (let j = i; j < Math.min(N, i + 20); j++)
            batch.push(open(j));
        socks.push(...(await Promise.all(batch)));
    }
    // every client subscribed on every server: a warm-up message reaches all
    const until = performance.now() + 30000;
    while (warm.size < N) {
        if (performance.now() > until)
            throw new Error("warm-up: only " + warm.size + " of " + N + " clients reached");
        socks[0].emitMsg("0 0 -1");
        socks[1 % N].emitMsg("1 0 -1");
        await sleep(200);
    }
    await sleep(500);
    // step -3: a first step at the lowest rate, not reported, so that both
    // peers are measured warm (Node's JIT, first-use allocations)
    for (let k = -3; k < RATES.length; k++) {
        if (k === -2 || k === -1)
            continue;
        const rate = RATES[Math.max(k, 0)];
        hist.fill(0);
        count = 0;
        step = k;
        const period = 1000 / rate;
        const t0 = performance.now(), end = t0 + STEP * 1000;
        const next = socks.map((_, i) => t0 + (period * i) / N);
        let sent = 0;
        const c0 = cpuOf(PIDS), r0 = REDIS_PID ? cpu(REDIS_PID) : 0;
        while (performance.now() < end) {
            const now = performance.now();
            for (let i = 0; i < N; i++) {
                while (next[i] <= now && next[i] < end) {
                    socks[i].emitMsg(i + " " + now.toFixed(3) + " " + k);
                    next[i] += period;
                    sent++;
                }
            }
            await sleep(5);
        }
        await sleep(GRACE);
        const c1 = cpuOf(PIDS), r1 = REDIS_PID ? cpu(REDIS_PID) : 0;
        const expected = sent * N;
        const out = {
            rate, sent, expected, delivered: count, per_s: Math.round(count / STEP),
            p50: quantile(0.5), p99: quantile(0.99),
            cpu_servers: +(c1 - c0).toFixed(2), cpu_redis: +(r1 - r0).toFixed(2),
        };
        step = -2;
        if (k < 0) {
            await sleep(500);
            continue;
        }
        console.log(JSON.stringify(out));
        if (count < 0.9 * expected || !(out.p99 <= 1000))
            break;
        await sleep(500);
    }
    for (const s of socks)
        s.terminate();
    process.exit(0);
}
main().catch((e) => {
    console.error(String(e && e.stack || e));
    process.exit(1);
});
