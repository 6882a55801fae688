/* showreq.js - print the request object (The Request Object in the spec).
 *
 *   rampart examples/showreq.js
 *   curl -b mycookie=cookietext 'http://127.0.0.1:8088/showreq.txt?q=search+terms'
 */
var server = require("rampart-server");

server.start({
    bind: process.env.BIND || ["[::1]:8088", "127.0.0.1:8088"],
    user: "nobody",
    map: {
        "/showreq.txt": function (req) {
            return { txt: rampart.utils.sprintf("%3J", req) };
        },
        "/showreq.json": function (req) {
            return { json: rampart.utils.sprintf("%3J", req) };
        }
    }
});
