/* redirect.js - a status code and headers in the return object.
 *
 *   rampart examples/redirect.js
 *   curl -i http://127.0.0.1:8088/old.html
 */
var server = require("rampart-server");

server.start({
    bind: process.env.BIND || ["[::1]:8088", "127.0.0.1:8088"],
    user: "nobody",
    map: {
        "/old.html": function (req) {
            var newurl = req.path.scheme + req.path.host + "/new.html";
            return {
                status: 302,
                html: rampart.utils.sprintf(
                    "<html><body><h1>302 Moved Temporarily</h1>" +
                    '<p>Document moved <a href="%s">here</a></p></body></html>', newurl),
                headers: { location: newurl }
            };
        },
        "/new.html": function () {
            return {
                html: "<p>You were redirected here.</p>",
                headers: {
                    "X-Custom-Header": "custom value",
                    "Set-Cookie": ["id=1; Max-Age=60", "session=abc; Max-Age=60"]
                }
            };
        }
    }
});
