/* hello.js - the smallest server: one mapped function.
 *
 *   rampart examples/hello.js
 *   curl http://127.0.0.1:8088/helloWorld.html
 *
 * BIND=127.0.0.1:9000 picks another address (the examples all honour it).
 */
var server = require("rampart-server");

var pid = server.start({
    bind: process.env.BIND || ["[::1]:8088", "127.0.0.1:8088"],
    user: "nobody",            /* only used when started as root */
    map: {
        "/helloWorld.html": function () {
            return { html: "<pre>Hello World!</pre>" };
        }
    }
});

console.log("hello.js: server started with pid " + pid +
            ": http://127.0.0.1:8088/helloWorld.html");
