/* bench/fanout-rampart.js - the fan-out bench's server (bench/fanout.py):
 * every message a websocket client sends is broadcast to every client of
 * every server of the cluster, through rampart.event (mod_cluster, Redis).
 *
 *   BIND=127.0.0.1:9000 CLUSTER=redis://127.0.0.1:6379/0 rampart fanout-rampart.js
 *
 * The same shape as examples/chat.js: one event callback per connection,
 * removed when it goes.  One worker thread (THREADS), like Node's one loop.
 */
var server = require("rampart-server");

function ws(req) {
    if (req.count == 0) {
        var name = "c" + req.websocketId;
        req.wsOnDisconnect(function () {
            rampart.event.off("fan", name);
        });
        rampart.event.on("fan", name, function (req, data) {
            req.wsSend(data);
        }, req);
        return;
    }
    rampart.event.trigger("fan", rampart.utils.bufferToString(req.body));
}

server.start({
    bind: process.env.BIND,
    user: "nobody", /* only used when started as root */
    threads: parseInt(process.env.THREADS || "1"),
    log: false,
    cluster: process.env.CLUSTER,
    map: {"ws:/ws": ws}
});
