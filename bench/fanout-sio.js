// bench/fanout-sio.js - the fan-out bench's peer (bench/fanout.py): Socket.IO
// 4.8 with @socket.io/redis-adapter 8.3 on the same Redis; every "m" a client
// emits is emitted to every client of every server (io.emit).
//
//   PORT=9000 REDIS=redis://127.0.0.1:6379 node fanout-sio.js
//
// websocket transport only (the load generator speaks Engine.IO 4 over it
// directly), no compression, as on our side.
"use strict";
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

async function main() {
    // node-redis 4, as in the adapter's documentation (ioredis 5 was tried
    // too: no faster here)
    const pub = createClient({ url: process.env.REDIS });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    const io = new Server(parseInt(process.env.PORT), {
        adapter: createAdapter(pub, sub),
        transports: ["websocket"],
        serveClient: false,
        perMessageDeflate: false,
    });
    io.on("connection", (s) => s.on("m", (d) => io.emit("m", d)));
    console.log("listening");
}
main().catch((e) => {
    console.error(e);
    process.exit(1);
});
